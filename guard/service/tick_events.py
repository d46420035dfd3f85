"""The audit events of a tick (evaluation, findings, alerts, skipped orders, position changes,
holds, suppressed orders), its summary, and what makes an evaluation quiet (audited only when its
outcome changes or a heartbeat is due). Pure: no I/O, clock or state; same input, same events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from guard.core.audit import AuditEvent, EventKind, evaluation_message
from guard.core.domain import Decision, OrderPlan, Severity
from guard.core.numbers import plain
from guard.core.planner import Plan
from guard.core.rails import Hold, PositionChange

BREACHES = (Severity.BREACH, Severity.CRITICAL)


def tick_events(
    account: str, tick_id: str, fingerprint: str, decision: Decision, planned: Plan, actor: str
) -> list[AuditEvent]:
    metrics = {k: v for k, v in decision.metrics.items()}
    breaches = [f for f in decision.findings if f.severity in BREACHES]
    events = [
        AuditEvent(
            EventKind.EVALUATION,
            evaluation_message(account, len(decision.findings), len(breaches), len(planned.orders)),
            account=account,
            tick_id=tick_id,
            fingerprint=fingerprint,
            actor=actor,
            payload={"metrics": metrics, "taken_at": decision.taken_at},
        )
    ]
    for finding in decision.findings:
        events.append(
            AuditEvent(
                EventKind.FINDING,
                finding.reason,
                account=account,
                symbol=finding.symbol,
                rule_id=finding.rule_id,
                tick_id=tick_id,
                fingerprint=fingerprint,
                actor=actor,
                payload={
                    "kind": finding.kind,
                    "severity": finding.severity.value,
                    "metric": finding.metric,
                    "value": finding.value,
                    "threshold": finding.threshold,
                    "side": finding.side.value if finding.side else None,
                    "reduce": finding.request.quantity if finding.request else None,
                },
            )
        )
    for alert in decision.alerts:
        events.append(
            AuditEvent(
                EventKind.ALERT,
                alert.message,
                account=account,
                symbol=alert.symbol,
                tick_id=tick_id,
                fingerprint=fingerprint,
                actor=actor,
                payload={"kind": alert.kind, "severity": alert.severity.value},
            )
        )
    for skipped in planned.skipped:
        events.append(
            AuditEvent(
                EventKind.ORDER_SKIPPED,
                f"not planned: {skipped.reason}",
                account=account,
                symbol=skipped.reduction.key.symbol,
                rule_id=",".join(skipped.reduction.rule_ids),
                tick_id=tick_id,
                fingerprint=fingerprint,
                actor=actor,
                payload={"quantity": skipped.reduction.quantity},
            )
        )
    return events


def change_events(
    account: str,
    tick_id: str,
    fingerprint: str,
    changes: Sequence[PositionChange],
    actor: str,
) -> list[AuditEvent]:
    return [
        AuditEvent(
            EventKind.POSITION_CHANGED,
            change.describe(),
            account=account,
            symbol=change.key.symbol,
            tick_id=tick_id,
            fingerprint=fingerprint,
            actor=actor,
            payload={
                "side": change.key.side.value,
                "before": change.before,
                "after": change.after,
                "own_fills": change.own_fills,
                "vanished": change.vanished,
            },
        )
        for change in changes
    ]


def hold_event(hold: Hold, account: str, tick_id: str, fingerprint: str, actor: str) -> AuditEvent:
    return AuditEvent(
        EventKind.ALERT,
        hold.reason,
        account=account,
        tick_id=tick_id,
        fingerprint=fingerprint,
        actor=actor,
        payload={"kind": f"rail_{hold.rail.value}", "severity": "critical", "key": hold.key},
    )


def suppressed(
    plan_: OrderPlan, why: str, tick_id: str, fingerprint: str, actor: str
) -> AuditEvent:
    return AuditEvent(
        EventKind.ORDER_SUPPRESSED,
        f"suppressed: reduce-only {plan_.side.value} {plain(plan_.quantity)} {plan_.symbol} — {why}",
        account=plan_.account,
        symbol=plan_.symbol,
        rule_id=",".join(plan_.rule_ids) or None,
        tick_id=tick_id,
        fingerprint=fingerprint,
        actor=actor,
        client_order_id=plan_.client_order_id,
        payload={"quantity": plan_.quantity, "reason": plan_.reason, "held": why},
    )


def summary(decision: Decision, wall: datetime) -> dict[str, Any]:
    """What `guard status` shows of a tick; `wall` is when it ran on the wall clock (a paper
    account's own clock is virtual)."""
    breaches = sum(1 for f in decision.findings if f.severity in BREACHES)
    metrics = {k: v for k, v in decision.metrics.items()}
    positions = [
        {
            "symbol": p.symbol,
            "side": p.side,
            "margin_mode": p.margin_mode,
            "quantity": p.quantity,
            "mark_price": p.mark_price,
            "leverage": p.leverage if p.leverage.is_finite() else None,
            "liquidation_price": p.liquidation_price,
            "liquidation_distance": p.liquidation_distance,
        }
        for p in decision.positions
    ]
    return {**metrics, "open_breaches": breaches, "ticked_at": wall, "positions": positions}


def quiet_outcome(
    decision: Decision, planned: Plan, holds: Sequence[Hold], changes: Sequence[PositionChange]
) -> str | None:
    """The outcome of a quiet evaluation (no order planned or skipped, no hold, no position
    change, no breach) as a comparable text; None when the evaluation is not quiet."""
    if planned.orders or planned.skipped or holds or changes:
        return None
    if any(f.severity in BREACHES for f in decision.findings):
        return None
    seen = sorted(
        f"{f.rule_id}|{f.symbol or '@account'}|{f.side.value if f.side else ''}|{f.severity.value}"
        for f in decision.findings
    )
    return ";".join([*seen, *sorted(f"alert|{a.kind}|{a.symbol or ''}" for a in decision.alerts)])
