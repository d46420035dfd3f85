"""What the level and episode rule functions share: the positions a rule selects, the order they are
reduced in, quantities rounded up to the venue step (never above the size) and the BREACH findings
carrying the ReduceRequests; pure (now is snapshot.taken_at)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import ROUND_CEILING, Decimal
from fnmatch import fnmatchcase

from guard.core.domain import (
    ONE,
    ZERO,
    Finding,
    Position,
    PositionKey,
    ReduceRequest,
    Severity,
)
from guard.core.margin import PositionMetrics
from guard.core.numbers import market_quantity
from guard.core.policy.rules import RuleContext, rule_kind
from guard.core.policy.schema_fields import RuleBase
from guard.core.policy.schema_levels import ReductionOrder
from guard.core.policy.units import format_percent


def pct(value: Decimal) -> str:
    """A fraction shown as a percentage with at most two decimals."""
    if not value.is_finite():
        return "infinite" if value > 0 else "-infinite"
    return format_percent(value.quantize(Decimal("0.0001")))


def level_step(rule_id: str, key: PositionKey, taken_at: datetime) -> str:
    """Step identity of a level request: the rule, the position and the tick (snapshot time), so
    each tick's restated target is a new step with its own client order id."""
    return f"{rule_id}|{key.symbol}|{key.side.value}|t{taken_at.strftime('%Y%m%dT%H%M%S.%fZ')}"


def ceil_step(quantity: Decimal, step: Decimal, cap: Decimal) -> Decimal:
    """`quantity` rounded up to the venue step, never above `cap` (the position size)."""
    if quantity <= ZERO:
        return ZERO
    return min((quantity / step).to_integral_value(rounding=ROUND_CEILING) * step, cap)


def selected(rule: RuleBase, ctx: RuleContext) -> list[Position]:
    """The positions of the snapshot the rule's selector picks, in key order (computed once per
    selector per evaluation: the selector and the snapshot are frozen)."""
    found = ctx.selections.get(rule.select)
    if found is None:
        chosen = [p for p in ctx.snapshot.positions if rule.select.matches_position(p)]
        # PositionKey's order, unboxed
        found = ctx.selections[rule.select] = tuple(
            sorted(chosen, key=lambda p: (p.symbol, p.side))
        )
    return list(found)


def ordered(
    positions: Iterable[Position],
    ctx: RuleContext,
    order: ReductionOrder,
    priority: Sequence[str] = (),
) -> list[Position]:
    """Positions in the order they are reduced; ties broken by position key (deterministic)."""

    def metric(position: Position) -> PositionMetrics:
        found = ctx.metrics.position(position.key)
        if found is None:
            raise KeyError(f"no metrics for {position.key}")
        return found

    def rank(position: Position) -> tuple[int, Decimal, PositionKey]:
        m = metric(position)
        match order:
            case ReductionOrder.HIGHEST_LEVERAGE | ReductionOrder.PRO_RATA:
                return (0, -m.leverage, position.key)
            case ReductionOrder.LARGEST_LOSS:
                return (0, m.unrealized_pnl, position.key)
            case ReductionOrder.HIGHEST_FUNDING_COST:
                return (0, -m.funding_per_interval, position.key)
            case ReductionOrder.PRIORITY:
                index = next(
                    (i for i, g in enumerate(priority) if fnmatchcase(position.symbol, g)),
                    len(priority),
                )
                return (index, -m.leverage, position.key)

    return sorted(positions, key=rank)


def allocate_notional(
    positions: Sequence[Position], ctx: RuleContext, amount: Decimal, pro_rata: bool
) -> dict[PositionKey, Decimal]:
    """Base quantities removing `amount` of notional: pro-rata, or position by position in order.
    Each is rounded up to the venue step and capped at the position size."""
    out: dict[PositionKey, Decimal] = {}
    if amount <= ZERO:
        return out
    if pro_rata:
        total = sum((p.notional for p in positions), ZERO)
        share = ONE if total <= amount else amount / total
        for p in positions:
            step = ctx.snapshot.market(p.symbol).amount_step
            if (q := ceil_step(p.quantity * share, step, p.quantity)) > ZERO:
                out[p.key] = q
        return out
    remaining = amount
    for p in positions:
        if remaining <= ZERO:
            break
        if p.mark_price <= ZERO:
            continue
        step = ctx.snapshot.market(p.symbol).amount_step
        q = ceil_step(min(p.quantity, remaining / p.mark_price), step, p.quantity)
        if q > ZERO:
            out[p.key] = q
            remaining -= q * p.mark_price
    return out


def findings_for(
    rule: RuleBase,
    ctx: RuleContext,
    quantities: Mapping[PositionKey, Decimal],
    why: str,
    *,
    metric: str,
    value: Decimal | None,
    threshold: Decimal | None,
    level: bool = True,
    step: str | None = None,
) -> list[Finding]:
    findings: list[Finding] = []
    for key in sorted(quantities):
        quantity = quantities[key]
        position = ctx.snapshot.position(key)
        if position is None or quantity <= ZERO:
            continue
        quantity = min(quantity, position.quantity)
        shown = market_quantity(quantity, ctx.snapshot.markets.get(position.symbol))
        reason = f"{why}: reduce {position.symbol} {position.side.value} by {shown}"
        request = ReduceRequest(
            rule_id=rule.id,
            key=key,
            quantity=quantity,
            reason=reason,
            step=step or level_step(rule.id, key, ctx.snapshot.taken_at),
            level=level,
            execution=rule.execution.to_domain(),
        )
        findings.append(
            Finding(
                rule.id,
                rule_kind(rule),
                Severity.BREACH,
                reason,
                key.symbol,
                key.side,
                metric,
                value,
                threshold,
                request,
            )
        )
    return findings


def without_dust(
    rule: RuleBase, ctx: RuleContext, findings: Sequence[Finding]
) -> tuple[Finding, ...]:
    """A level rule's findings with every request worth less than its `min_order_notional` (at
    the mark) turned into an INFO note without a request, unless it closes the position."""
    floor: Decimal | None = getattr(rule, "min_order_notional", None)
    if floor is None:
        return tuple(findings)
    kept: list[Finding] = []
    for finding in findings:
        request = finding.request
        position = None if request is None else ctx.snapshot.position(request.key)
        if request is None or position is None or request.quantity >= position.quantity:
            kept.append(finding)
            continue
        notional = request.quantity * position.mark_price
        if notional >= floor:
            kept.append(finding)
            continue
        note = (
            f"{finding.reason} — worth {notional.quantize(Decimal('0.01'))}, below "
            f"min_order_notional {floor}: no order (no dust)"
        )
        kept.append(replace(finding, severity=Severity.INFO, reason=note, request=None))
    return tuple(kept)
