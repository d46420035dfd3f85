"""Audit events, order plans and order results as the plain JSON data of journal entries, and
back, exactly (Decimals as strings); pure."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from guard.core.audit import AuditEvent, EventKind
from guard.core.domain import (
    MarginMode,
    OrderPlan,
    OrderResult,
    OrderSide,
    OrderStatus,
    OrderType,
    Side,
)
from guard.store.codec import to_jsonable

JOURNAL_KEY = "_journal"  # payload key holding a flushed event's idempotency key


def event_data(event: AuditEvent) -> dict[str, Any]:
    return {
        "kind": event.kind.value,
        "message": event.message,
        "account": event.account,
        "symbol": event.symbol,
        "rule_id": event.rule_id,
        "tick_id": event.tick_id,
        "fingerprint": event.fingerprint,
        "actor": event.actor,
        "client_order_id": event.client_order_id,
        "payload": to_jsonable(dict(event.payload)),
    }


def event_from(data: Mapping[str, Any], key: str | None) -> AuditEvent:
    payload = dict(data["payload"])
    if key is not None:
        payload[JOURNAL_KEY] = key
    return AuditEvent(
        EventKind(data["kind"]),
        data["message"],
        account=data["account"],
        symbol=data["symbol"],
        rule_id=data["rule_id"],
        tick_id=data["tick_id"],
        fingerprint=data["fingerprint"],
        actor=data["actor"],
        client_order_id=data["client_order_id"],
        payload=payload,
    )


def plan_data(plan: OrderPlan) -> dict[str, Any]:
    return {
        "account": plan.account,
        "symbol": plan.symbol,
        "side": plan.side.value,
        "quantity": str(plan.quantity),
        "position_side": plan.position_side.value,
        "margin_mode": plan.margin_mode.value,
        "client_order_id": plan.client_order_id,
        "order_type": plan.order_type.value,
        "limit_price": None if plan.limit_price is None else str(plan.limit_price),
        "reduce_only": plan.reduce_only,
        "hedged": plan.hedged,
        "rule_ids": list(plan.rule_ids),
        "reason": plan.reason,
        "steps": list(plan.steps),
        "reference_price": None if plan.reference_price is None else str(plan.reference_price),
    }


def plan_from(data: Mapping[str, Any]) -> OrderPlan:
    return OrderPlan(
        account=data["account"],
        symbol=data["symbol"],
        side=OrderSide(data["side"]),
        quantity=Decimal(data["quantity"]),
        position_side=Side(data["position_side"]),
        margin_mode=MarginMode(data["margin_mode"]),
        client_order_id=data["client_order_id"],
        order_type=OrderType(data["order_type"]),
        limit_price=None if data["limit_price"] is None else Decimal(data["limit_price"]),
        reduce_only=bool(data["reduce_only"]),
        hedged=bool(data["hedged"]),
        rule_ids=tuple(data["rule_ids"]),
        reason=data["reason"],
        steps=tuple(data["steps"]),
        reference_price=None
        if data.get("reference_price") is None
        else Decimal(data["reference_price"]),
    )


def result_data(result: OrderResult) -> dict[str, Any]:
    return {
        "client_order_id": result.client_order_id,
        "status": result.status.value,
        "filled_quantity": str(result.filled_quantity),
        "average_price": None if result.average_price is None else str(result.average_price),
        "fee": str(result.fee),
        "venue_order_id": result.venue_order_id,
        "message": result.message,
    }


def result_from(data: Mapping[str, Any]) -> OrderResult:
    return OrderResult(
        client_order_id=data["client_order_id"],
        status=OrderStatus(data["status"]),
        filled_quantity=Decimal(data["filled_quantity"]),
        average_price=None if data["average_price"] is None else Decimal(data["average_price"]),
        fee=Decimal(data["fee"]),
        venue_order_id=data["venue_order_id"],
        message=data["message"],
    )
