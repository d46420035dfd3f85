"""Order intents as values: the intent read back, the admission decision, which statuses are
still open, and the intent row, audit event and payload of a plan. Pure apart from the row type."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Row

from guard.core.audit import AuditEvent, EventKind
from guard.core.domain import (
    ZERO,
    MarginMode,
    OrderPlan,
    OrderSide,
    OrderStatus,
    OrderType,
    PositionKey,
    Side,
)
from guard.core.numbers import plain
from guard.store.tables import IntentRow

NOT_FINAL = (
    OrderStatus.PENDING.value,
    OrderStatus.SENT.value,
    OrderStatus.ACKNOWLEDGED.value,
    OrderStatus.UNKNOWN.value,
)
COUNTED = (
    OrderStatus.PENDING.value,
    OrderStatus.SENT.value,
    OrderStatus.ACKNOWLEDGED.value,
    OrderStatus.FILLED.value,
    OrderStatus.PARTIALLY_FILLED.value,
    OrderStatus.UNKNOWN.value,
)


@dataclass(frozen=True, slots=True)
class StoredIntent:
    """An order intent as read back."""

    client_order_id: str
    account: str
    symbol: str
    side: str
    position_side: Side
    quantity: Decimal
    status: OrderStatus
    filled_quantity: Decimal
    average_price: Decimal | None
    reason: str
    rule_ids: tuple[str, ...]
    dry_run: bool
    created_at: datetime
    updated_at: datetime
    message: str
    margin_mode: MarginMode
    order_type: OrderType
    limit_price: Decimal | None
    hedged: bool
    steps: tuple[str, ...]
    position_before: Decimal | None = None  # the position size re-read just before the send

    @property
    def key(self) -> PositionKey:
        return PositionKey(self.symbol, self.position_side)

    def as_plan(self, quantity: Decimal) -> OrderPlan:
        """The plan this intent was written for, with `quantity` (clipped by the caller)."""
        return OrderPlan(
            account=self.account,
            symbol=self.symbol,
            side=OrderSide(self.side),
            quantity=quantity,
            position_side=self.position_side,
            margin_mode=self.margin_mode,
            client_order_id=self.client_order_id,
            order_type=self.order_type,
            limit_price=self.limit_price,
            reduce_only=True,
            hedged=self.hedged,
            rule_ids=self.rule_ids,
            reason=self.reason,
            steps=self.steps,
        )


@dataclass(frozen=True, slots=True)
class Admission:
    """What the intent transaction decided for each plan."""

    admitted: tuple[OrderPlan, ...]
    suppressed: tuple[tuple[OrderPlan, str], ...]  # (plan, why: the lock or rail that held it)
    duplicates: tuple[OrderPlan, ...]  # client id already known: never sent twice


def intent_row(
    plan: OrderPlan,
    status: OrderStatus,
    at: datetime,
    tick_id: str | None,
    actor: str,
    dry_run: bool,
    message: str,
) -> IntentRow:
    return IntentRow(
        client_order_id=plan.client_order_id,
        account=plan.account,
        symbol=plan.symbol,
        side=plan.side.value,
        position_side=plan.position_side.value,
        margin_mode=plan.margin_mode.value,
        order_type=plan.order_type.value,
        quantity=plan.quantity,
        limit_price=plan.limit_price,
        reduce_only=plan.reduce_only,
        hedged=plan.hedged,
        status=status.value,
        filled_quantity=ZERO,
        fee=ZERO,
        rule_ids=json.dumps(list(plan.rule_ids)),
        steps=json.dumps(list(plan.steps)),
        reason=plan.reason,
        message=message,
        tick_id=tick_id,
        actor=actor,
        dry_run=dry_run,
        created_at=at,
        updated_at=at,
    )


def plan_payload(plan: OrderPlan) -> dict[str, Any]:
    return {
        "side": plan.side.value,
        "quantity": plan.quantity,
        "position_side": plan.position_side.value,
        "margin_mode": plan.margin_mode.value,
        "order_type": plan.order_type.value,
        "limit_price": plan.limit_price,
        "reduce_only": plan.reduce_only,
        "rule_ids": list(plan.rule_ids),
        "steps": list(plan.steps),
        "reason": plan.reason,
        "reference_price": plan.reference_price,
    }


def intent_event(
    plan: OrderPlan,
    status: OrderStatus,
    why: str,
    tick_id: str | None,
    fingerprint: str | None,
    actor: str,
) -> AuditEvent:
    kind = {
        OrderStatus.SUPPRESSED: EventKind.ORDER_SUPPRESSED,
        OrderStatus.WOULD_PLACE: EventKind.ORDER_WOULD_PLACE,
    }.get(status, EventKind.INTENT)
    verb = {
        EventKind.ORDER_SUPPRESSED: "suppressed",
        EventKind.ORDER_WOULD_PLACE: "would place",
        EventKind.INTENT: "intent",
    }[kind]
    message = (
        f"{verb}: reduce-only {plan.side.value} {plain(plan.quantity)} {plan.symbol} "
        f"({plan.order_type.value}) — {plan.reason}"
    )
    if why:
        message += f" — {why}"
    return AuditEvent(
        kind=kind,
        message=message,
        account=plan.account,
        symbol=plan.symbol,
        rule_id=",".join(plan.rule_ids) or None,
        tick_id=tick_id,
        fingerprint=fingerprint,
        actor=actor,
        client_order_id=plan.client_order_id,
        payload=plan_payload(plan),
    )


def stored_intent(row: IntentRow | Row[Any]) -> StoredIntent:
    """An intent from its ORM row or a Core row of the same table."""
    return StoredIntent(
        client_order_id=row.client_order_id,
        account=row.account,
        symbol=row.symbol,
        side=row.side,
        position_side=Side(row.position_side),
        quantity=row.quantity,
        status=OrderStatus(row.status),
        filled_quantity=row.filled_quantity,
        average_price=row.average_price,
        reason=row.reason,
        rule_ids=tuple(json.loads(row.rule_ids)),
        dry_run=row.dry_run,
        created_at=row.created_at,
        updated_at=row.updated_at,
        message=row.message,
        margin_mode=MarginMode(row.margin_mode),
        order_type=OrderType(row.order_type),
        limit_price=row.limit_price,
        hedged=row.hedged,
        steps=tuple(json.loads(row.steps)),
        position_before=row.position_before,
    )


def in_flight(intents: Sequence[StoredIntent]) -> dict[PositionKey, Decimal]:
    """What each position's unresolved live (not dry-run) intents still reduce."""
    flights: dict[PositionKey, Decimal] = {}
    for intent in intents:
        if not intent.dry_run:
            key = intent.key
            flights[key] = flights.get(key, ZERO) + intent.quantity - intent.filled_quantity
    return flights
