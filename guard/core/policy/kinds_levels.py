"""Level rules on margin and size: buffer_floor, leverage_cap, exposure_cap; pure: (rule, context)
-> RuleOutcome. Each restates its target every tick (level=True); no request exceeds the size."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from guard.core.domain import (
    INFINITY,
    ZERO,
    AccountSnapshot,
    Finding,
    MarginMode,
    Position,
    PositionKey,
    Side,
)
from guard.core.margin import cross_equity, initial_margin, isolated_equity, ratio
from guard.core.policy.reductions import (
    allocate_notional,
    ceil_step,
    findings_for,
    ordered,
    pct,
    selected,
    without_dust,
)
from guard.core.policy.rules import RuleContext, RuleOutcome
from guard.core.policy.schema_levels import (
    BufferFloorRule,
    BufferMetric,
    ExposureCapRule,
    ExposureMeasure,
    ExposureScope,
    LeverageCapRule,
    ReductionOrder,
)
from guard.core.stress import Order, minimal_reduction
from guard.core.venues.base import maintenance_margin


def _pool_state(snapshot: AccountSnapshot) -> tuple[Decimal, Decimal, Decimal]:
    """Cross pool: (equity, maintenance, initial margin)."""
    cross = [p for p in snapshot.positions if p.margin_mode is MarginMode.CROSS]
    mm = sum((maintenance_margin(p, snapshot.market(p.symbol)) for p in cross), ZERO)
    im = sum((initial_margin(p, snapshot.market(p.symbol)) for p in cross), ZERO)
    return cross_equity(snapshot), mm, im


def _cross_solve(
    rule: BufferFloorRule | LeverageCapRule,
    ctx: RuleContext,
    acceptable: Callable[[AccountSnapshot], bool],
) -> tuple[dict[PositionKey, Decimal], bool]:
    cross = [p for p in selected(rule, ctx) if p.margin_mode is MarginMode.CROSS]
    chosen = ordered(cross, ctx, rule.order, rule.priority)
    mode: Order = "pro_rata" if rule.order is ReductionOrder.PRO_RATA else "priority"
    return minimal_reduction(ctx.snapshot, [p.key for p in chosen], acceptable, mode)


def buffer_floor(rule: BufferFloorRule, ctx: RuleContext) -> RuleOutcome:
    """Keep the buffer on the safe side of `floor`; on breach reduce until `restore`."""
    findings: list[Finding] = []
    snapshot = ctx.snapshot
    metrics = ctx.metrics  # the same sums _pool_state makes, made once by measure
    equity, mm, im = (
        metrics.cross_equity,
        metrics.cross_maintenance_margin,
        metrics.cross_initial_margin,
    )
    has_cross = any(p.margin_mode is MarginMode.CROSS for p in snapshot.positions)
    if rule.metric is BufferMetric.FREE_COLLATERAL_PCT:
        value = ratio(equity - im, equity) if equity > ZERO else -INFINITY
        if has_cross and value < rule.floor:

            def fine(candidate: AccountSnapshot) -> bool:
                e, _, i = _pool_state(candidate)
                return e > ZERO and (e - i) / e >= rule.restore

            found, ok = _cross_solve(rule, ctx, fine)
            why = (
                f"free collateral is {pct(value)} of cross equity {equity.quantize(Decimal('0.01'))},"
                f" below the floor {pct(rule.floor)}; restoring {pct(rule.restore)}"
                + ("" if ok else " is not reachable by the selected positions")
            )
            findings += findings_for(
                rule,
                ctx,
                found,
                why,
                metric="free_collateral_pct",
                value=value,
                threshold=rule.floor,
            )
    else:
        value = ratio(mm, equity)
        if has_cross and value > rule.floor:

            def fine(candidate: AccountSnapshot) -> bool:
                e, m, _ = _pool_state(candidate)
                return ratio(m, e) <= rule.restore

            found, ok = _cross_solve(rule, ctx, fine)
            why = (
                f"cross margin ratio is {pct(value)}, above the floor {pct(rule.floor)}; "
                f"restoring {pct(rule.restore)}"
                + ("" if ok else " is not reachable by the selected positions")
            )
            findings += findings_for(
                rule, ctx, found, why, metric="margin_ratio", value=value, threshold=rule.floor
            )
    for position in selected(rule, ctx):
        if position.margin_mode is not MarginMode.ISOLATED:
            continue
        market = snapshot.market(position.symbol)
        own_equity = isolated_equity(position)
        own_mm = maintenance_margin(position, market)
        if rule.metric is BufferMetric.MARGIN_RATIO:
            own = ratio(own_mm, own_equity)
            breached = own > rule.floor
            shown = f"its own margin ratio {pct(own)} is above the floor {pct(rule.floor)}"
        else:
            own = ratio(own_equity - own_mm, own_equity) if own_equity > ZERO else -INFINITY
            breached = own < rule.floor
            shown = (
                f"its own margin above maintenance is {pct(own)} of its equity, below the "
                f"floor {pct(rule.floor)}"
            )
        if not breached:
            continue
        quantity = ceil_step(
            position.quantity * rule.isolated_reduce, market.amount_step, position.quantity
        )
        why = (
            f"isolated {position.symbol}: {shown}; reducing scales its margin and maintenance "
            f"alike, so cut {pct(rule.isolated_reduce)} of it"
        )
        findings += findings_for(
            rule,
            ctx,
            {position.key: quantity},
            why,
            metric=rule.metric.value,
            value=own,
            threshold=rule.floor,
        )
    return RuleOutcome(without_dust(rule, ctx, findings))


def leverage_cap(rule: LeverageCapRule, ctx: RuleContext) -> RuleOutcome:
    """Reduce back under the account gross leverage cap and each position's leverage cap; each
    position's finding names the cap(s) it serves and its request is the larger of them."""
    metrics = ctx.metrics
    wanted: dict[PositionKey, tuple[Decimal, list[str], Decimal, Decimal]] = {}

    def want(key: PositionKey, quantity: Decimal, why: str, value: Decimal, cap: Decimal) -> None:
        old = wanted.get(key)
        if old is None:
            wanted[key] = (quantity, [why], value, cap)
        else:
            wanted[key] = (max(old[0], quantity), [*old[1], why], old[2], old[3])

    if rule.account is not None and metrics.leverage > rule.account:
        excess = (
            metrics.gross_exposure
            if metrics.equity <= ZERO
            else metrics.gross_exposure - rule.account * rule.restore_to * metrics.equity
        )
        why = (
            f"account gross leverage {_x(metrics.leverage)} is above the cap {_x(rule.account)}"
            + _restoring(rule.restore_to, rule.account)
        )
        pro_rata = rule.order is ReductionOrder.PRO_RATA
        chosen = ordered(selected(rule, ctx), ctx, rule.order, rule.priority)
        for key, quantity in allocate_notional(chosen, ctx, excess, pro_rata).items():
            want(key, quantity, why, metrics.leverage, rule.account)
    if rule.position is not None:
        # each position's cap stands alone and the findings go out in key order: the order of
        # reduction does not matter here, so the positions are not ranked (a sort per tick)
        for position in selected(rule, ctx):
            m = metrics.position(position.key)
            if m is None or m.leverage <= rule.position:
                continue
            allowed_notional = max(m.pool_equity, ZERO) * rule.position * rule.restore_to
            keep = allowed_notional / position.mark_price if position.mark_price > ZERO else ZERO
            step = ctx.snapshot.market(position.symbol).amount_step
            quantity = ceil_step(position.quantity - keep, step, position.quantity)
            pool = (
                "its own margin" if position.margin_mode is MarginMode.ISOLATED else "cross equity"
            )
            why = (
                f"{position.symbol} leverage {_x(m.leverage)} on {pool} is above the cap "
                f"{_x(rule.position)}" + _restoring(rule.restore_to, rule.position)
            )
            want(position.key, quantity, why, m.leverage, rule.position)
    findings: list[Finding] = []
    for key in sorted(wanted):
        quantity, reasons, value, cap = wanted[key]
        findings += findings_for(
            rule,
            ctx,
            {key: quantity},
            "; ".join(reasons),
            metric="leverage",
            value=value,
            threshold=cap,
        )
    return RuleOutcome(without_dust(rule, ctx, findings))


def _restoring(share: Decimal, cap: Decimal) -> str:
    return "" if share == 1 else f"; restoring {pct(share)} of it ({_x(cap * share)})"


def _x(value: Decimal) -> str:
    return "infinite" if not value.is_finite() else f"{value.quantize(Decimal('0.01'))}x"


def exposure_cap(rule: ExposureCapRule, ctx: RuleContext) -> RuleOutcome:
    """Reduce gross or net notional back under the cap, in total or per base asset."""
    chosen = selected(rule, ctx)
    if rule.limit is not None:
        cap = rule.limit
        cap_text = f"{rule.limit}"
    else:
        assert rule.limit_pct_of_equity is not None
        cap = max(ctx.metrics.equity, ZERO) * rule.limit_pct_of_equity
        cap_text = f"{pct(rule.limit_pct_of_equity)} of equity = {cap.quantize(Decimal('0.01'))}"
    groups: dict[str, list[Position]] = {}
    per_asset = rule.scope is ExposureScope.PER_ASSET
    markets = ctx.snapshot.markets
    for position in chosen:
        if per_asset:
            symbol = position.symbol
            group = (markets.get(symbol) or ctx.snapshot.market(symbol)).base
        else:
            group = "total"
        groups.setdefault(group, []).append(position)
    findings: list[Finding] = []
    pro_rata = rule.order is ReductionOrder.PRO_RATA
    gross = rule.measure is ExposureMeasure.GROSS
    for group in sorted(groups):
        members = groups[group]
        if gross:
            value = sum((p.notional for p in members), ZERO)
            excess = value - cap
            if excess <= ZERO:
                continue
            candidates = members
        else:
            value = ZERO
            for p in members:  # sum(side.sign × notional) from ZERO, without the enum property
                value += (1 if p.side is Side.LONG else -1) * (p.quantity * p.mark_price)
            excess = abs(value) - cap
            if excess <= ZERO:
                continue
            heavy = Side.LONG if value > 0 else Side.SHORT
            candidates = [p for p in members if p.side is heavy]
        excess += cap * (1 - rule.restore_to)  # hysteresis: down to restore_to of the cap
        found = allocate_notional(
            ordered(candidates, ctx, rule.order, rule.priority), ctx, excess, pro_rata
        )
        why = (
            f"{rule.measure.value} exposure of {group} is {value.quantize(Decimal('0.01'))}, "
            f"above the cap {cap_text}"
            + ("" if rule.restore_to == 1 else f"; restoring {pct(rule.restore_to)} of it")
        )
        findings += findings_for(
            rule,
            ctx,
            found,
            why,
            metric=f"{rule.measure.value}_exposure",
            value=value,
            threshold=cap,
        )
    return RuleOutcome(without_dust(rule, ctx, findings))
