"""The audit events of the executor's order outcomes and of a flatten's lock override. Pure
functions of the plan and its result (no I/O)."""

from __future__ import annotations

from guard.core.audit import AuditEvent, EventKind
from guard.core.domain import OrderPlan, OrderResult, OrderStatus
from guard.core.gate import LockSeen
from guard.core.numbers import result_text
from guard.store.intent_records import plan_payload

RESULT_EVENT = {
    OrderStatus.SENT: EventKind.ORDER_SENT,
    OrderStatus.ACKNOWLEDGED: EventKind.ORDER_ACKNOWLEDGED,
    OrderStatus.FILLED: EventKind.ORDER_FILLED,
    OrderStatus.PARTIALLY_FILLED: EventKind.ORDER_PARTIALLY_FILLED,
    OrderStatus.REJECTED: EventKind.ORDER_REJECTED,
    OrderStatus.UNKNOWN: EventKind.ORDER_UNKNOWN,
    OrderStatus.ABANDONED: EventKind.ORDER_REJECTED,
    OrderStatus.WOULD_PLACE: EventKind.ORDER_WOULD_PLACE,
    OrderStatus.SUPPRESSED: EventKind.ORDER_SUPPRESSED,
}


def override_event(plan: OrderPlan, lock: LockSeen, tick_id: str | None, actor: str) -> AuditEvent:
    """A human's flatten went out through `lock` (a lock row, or a pause: lock id 0)."""
    return AuditEvent(
        EventKind.LOCK_OVERRIDDEN,
        f"{actor}'s flatten overrode {lock.description}: reduce-only "
        f"{plan.side.value} {plan.quantity} {plan.symbol}",
        account=plan.account,
        symbol=plan.symbol,
        tick_id=tick_id,
        actor=actor,
        client_order_id=plan.client_order_id,
        payload={"lock_id": lock.id},
    )


def result_event(
    plan: OrderPlan,
    result: OrderResult,
    tick_id: str | None,
    fingerprint: str | None,
    actor: str,
) -> AuditEvent:
    """The audit row of one order outcome."""
    return AuditEvent(
        kind=RESULT_EVENT.get(result.status, EventKind.ORDER_UNKNOWN),
        message=result_text(plan, result),
        account=plan.account,
        symbol=plan.symbol,
        rule_id=",".join(plan.rule_ids) or None,
        tick_id=tick_id,
        fingerprint=fingerprint,
        actor=actor,
        client_order_id=plan.client_order_id,
        payload={
            **plan_payload(plan),
            "status": result.status.value,
            "filled_quantity": result.filled_quantity,
            "average_price": result.average_price,
            "fee": result.fee,
            "venue_order_id": result.venue_order_id,
        },
    )
