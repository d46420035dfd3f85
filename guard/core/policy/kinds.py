"""Rule functions for buffer_floor, funding_threshold, leverage_cap, exposure_cap, stress and
drawdown; pure: (rule, context) -> RuleOutcome, never reads a clock (now is snapshot.taken_at).
Invariants: a request never exceeds its position's size; level rules restate a target every tick
(level=True) and one-shot steps (drawdown, funding cuts) carry a stable step identity."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from fnmatch import fnmatchcase

from guard.core.domain import (
    INFINITY,
    ONE,
    ZERO,
    AccountSnapshot,
    Finding,
    LadderEpisode,
    MarginMode,
    Position,
    PositionKey,
    ReduceRequest,
    Severity,
    frozen_map,
)
from guard.core.margin import (
    PositionMetrics,
    cross_equity,
    initial_margin,
    isolated_equity,
    ratio,
)
from guard.core.policy.rules import RuleContext, RuleOutcome, rule_kind
from guard.core.policy.schema import (
    BufferFloorRule,
    BufferMetric,
    DrawdownAction,
    DrawdownRule,
    ExposureCapRule,
    ExposureMeasure,
    ExposureScope,
    FundingAction,
    FundingThresholdRule,
    LeverageCapRule,
    RateSource,
    ReductionOrder,
    RuleBase,
    StressOrder,
    StressRule,
)
from guard.core.policy.units import format_percent
from guard.core.stress import Order, minimal_reduction, reduced, stress, survive
from guard.core.venues.base import maintenance_margin

YEAR = timedelta(days=365)


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
    """The positions of the snapshot the rule's selector picks, in key order."""
    chosen = [p for p in ctx.snapshot.positions if rule.select.matches_position(p)]
    return sorted(chosen, key=lambda p: (p.symbol, p.side))  # PositionKey's order, unboxed


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


def _findings_for(
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
        reason = f"{why}: reduce {position.symbol} {position.side.value} by {quantity}"
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
    equity, mm, im = _pool_state(snapshot)
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
            findings += _findings_for(
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
            findings += _findings_for(
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
        findings += _findings_for(
            rule,
            ctx,
            {position.key: quantity},
            why,
            metric=rule.metric.value,
            value=own,
            threshold=rule.floor,
        )
    return RuleOutcome(tuple(findings))


def leverage_cap(rule: LeverageCapRule, ctx: RuleContext) -> RuleOutcome:
    """Reduce back under the account gross leverage cap and each position's leverage cap; each
    position's finding names the cap(s) it serves and its request is the larger of them."""
    metrics = ctx.metrics
    chosen = ordered(selected(rule, ctx), ctx, rule.order, rule.priority)
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
            else metrics.gross_exposure - rule.account * metrics.equity
        )
        why = f"account gross leverage {_x(metrics.leverage)} is above the cap {_x(rule.account)}"
        pro_rata = rule.order is ReductionOrder.PRO_RATA
        for key, quantity in allocate_notional(chosen, ctx, excess, pro_rata).items():
            want(key, quantity, why, metrics.leverage, rule.account)
    if rule.position is not None:
        for position in chosen:
            m = ctx.metrics.position(position.key)
            if m is None or m.leverage <= rule.position:
                continue
            allowed_notional = max(m.pool_equity, ZERO) * rule.position
            keep = allowed_notional / position.mark_price if position.mark_price > ZERO else ZERO
            step = ctx.snapshot.market(position.symbol).amount_step
            quantity = ceil_step(position.quantity - keep, step, position.quantity)
            pool = (
                "its own margin" if position.margin_mode is MarginMode.ISOLATED else "cross equity"
            )
            why = (
                f"{position.symbol} leverage {_x(m.leverage)} on {pool} is above the cap "
                f"{_x(rule.position)}"
            )
            want(position.key, quantity, why, m.leverage, rule.position)
    findings: list[Finding] = []
    for key in sorted(wanted):
        quantity, reasons, value, cap = wanted[key]
        findings += _findings_for(
            rule,
            ctx,
            {key: quantity},
            "; ".join(reasons),
            metric="leverage",
            value=value,
            threshold=cap,
        )
    return RuleOutcome(tuple(findings))


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
    for position in chosen:
        group = (
            ctx.snapshot.market(position.symbol).base
            if rule.scope is ExposureScope.PER_ASSET
            else "total"
        )
        groups.setdefault(group, []).append(position)
    findings: list[Finding] = []
    pro_rata = rule.order is ReductionOrder.PRO_RATA
    for group in sorted(groups):
        members = groups[group]
        if rule.measure is ExposureMeasure.GROSS:
            value = sum((p.notional for p in members), ZERO)
            candidates = members
            excess = value - cap
        else:
            value = sum((p.side.sign * p.notional for p in members), ZERO)
            heavy = 1 if value > 0 else -1
            candidates = [p for p in members if p.side.sign == heavy]
            excess = abs(value) - cap
        if excess <= ZERO:
            continue
        found = allocate_notional(
            ordered(candidates, ctx, rule.order, rule.priority), ctx, excess, pro_rata
        )
        why = (
            f"{rule.measure.value} exposure of {group} is {value.quantize(Decimal('0.01'))}, "
            f"above the cap {cap_text}"
        )
        findings += _findings_for(
            rule,
            ctx,
            found,
            why,
            metric=f"{rule.measure.value}_exposure",
            value=value,
            threshold=cap,
        )
    return RuleOutcome(tuple(findings))


def funding_interval_index(moment: datetime, interval: timedelta) -> int:
    """The number of the funding interval `moment` falls in, counted from the Unix epoch."""
    return int(moment.timestamp() // interval.total_seconds())


def funding_threshold(rule: FundingThresholdRule, ctx: RuleContext) -> RuleOutcome:
    """Cut positions paying funding above the threshold (optionally sustained / in a window)."""
    findings: list[Finding] = []
    counters: dict[str, int | None] = {}
    fired: dict[str, datetime] = {}
    now = ctx.snapshot.taken_at
    for position in selected(rule, ctx):
        data = ctx.snapshot.market_data.get(position.symbol)
        rate = None
        if data is not None:
            rate = (
                data.funding_rate
                if rule.rate is RateSource.CURRENT
                else data.predicted_funding_rate
            )
        key = f"{rule.id}|{position.symbol}|{position.side.value}"
        if rate is None:
            continue
        interval = ctx.snapshot.market(position.symbol).funding_interval
        paid = position.side.sign * rate  # per interval; positive: this position pays
        value = paid * Decimal(YEAR / interval) if rule.annualised else paid
        basis = "a year" if rule.annualised else f"per {interval}"
        index = funding_interval_index(now, interval)
        if value <= rule.threshold:
            counters[f"{key}|streak"] = None
            counters[f"{key}|last"] = None
            continue
        streak = ctx.state.counters.get(f"{key}|streak", 0)
        last = ctx.state.counters.get(f"{key}|last")
        if last != index:
            streak = streak + 1 if last == index - 1 else 1
        counters[f"{key}|streak"] = streak
        counters[f"{key}|last"] = index
        shown = f"{rule.rate.value} funding {pct(value)} {basis} is above {pct(rule.threshold)}"
        if streak < rule.sustained:
            findings.append(
                _note(rule, position, f"{shown} ({streak} of {rule.sustained} intervals)", value)
            )
            continue
        next_time = data.next_funding_time if data is not None else None
        if next_time is None:
            next_time = datetime.fromtimestamp(
                (index + 1) * interval.total_seconds(), tz=now.tzinfo
            )
        if rule.window is not None and next_time - now > rule.window:
            findings.append(
                _note(
                    rule,
                    position,
                    f"{shown}; waiting until {rule.window} before {next_time}",
                    value,
                )
            )
            continue
        if rule.action is FundingAction.CLOSE:
            quantity, level, step = position.quantity, True, None
        else:
            assert rule.reduce is not None
            if ctx.state.counters.get(f"{key}|cut") == index:
                continue  # this interval's cut is already made
            step_size = ctx.snapshot.market(position.symbol).amount_step
            quantity = ceil_step(position.quantity * rule.reduce, step_size, position.quantity)
            level, step = False, f"{key}|i{index}"
            counters[f"{key}|cut"] = index
            fired[key] = now
        verb = "close" if rule.action is FundingAction.CLOSE else f"cut {pct(rule.reduce or ONE)}"
        findings += _findings_for(
            rule,
            ctx,
            {position.key: quantity},
            f"{shown}: {verb}",
            metric="funding",
            value=value,
            threshold=rule.threshold,
            level=level,
            step=step,
        )
    return RuleOutcome(tuple(findings), counters=frozen_map(counters), fired_at=frozen_map(fired))


def _note(rule: RuleBase, position: Position, reason: str, value: Decimal) -> Finding:
    return Finding(
        rule.id,
        rule_kind(rule),
        Severity.WARNING,
        reason,
        position.symbol,
        position.side,
        "funding",
        value,
    )


def stress_rule(rule: StressRule, ctx: RuleContext) -> RuleOutcome:
    """For each shock the account would not survive with the margin of safety, request the minimal
    reduction that survives it; the largest per position over all shocks is requested."""
    chosen = selected(rule, ctx)
    if rule.order is StressOrder.PRIORITY:
        chosen = ordered(chosen, ctx, ReductionOrder.PRIORITY, rule.priority)
    mode: Order = "priority" if rule.order is StressOrder.PRIORITY else "pro_rata"
    keys = [p.key for p in chosen]
    findings: list[Finding] = []
    wanted: dict[PositionKey, Decimal] = {}
    reasons: list[str] = []
    for spec in rule.shocks:
        shock = spec.to_shock()
        solution = survive(ctx.snapshot, shock, ctx.venue, rule.margin_of_safety, keys, mode)
        if solution.before.survives:
            continue
        failing = [p for p in solution.before.pools if p.liquidated]
        pools = ", ".join(
            f"{p.pool} pool (equity {p.equity.quantize(Decimal('0.01'))} vs maintenance "
            f"{p.maintenance_margin.quantize(Decimal('0.01'))})"
            for p in failing
        )
        outcome = (
            "survives"
            if solution.survives
            else "still fails even after closing every selected position"
        )
        reasons.append(
            f"shock '{shock.name}' would liquidate the {pools} with a "
            f"{pct(rule.margin_of_safety)} margin of safety; the minimal reduction {outcome}"
        )
        for key, quantity in solution.reductions.items():
            wanted[key] = max(wanted.get(key, ZERO), quantity)
        if not solution.survives:
            findings.append(
                Finding(
                    rule.id,
                    rule_kind(rule),
                    Severity.CRITICAL,
                    reasons[-1],
                    metric="stress",
                )
            )
    if wanted:
        # A reduction good for one shock may not be enough for another: check the union.
        after = reduced(ctx.snapshot, wanted)
        still = [
            spec.to_shock().name
            for spec in rule.shocks
            if not stress(after, spec.to_shock(), ctx.venue, rule.margin_of_safety).survives
        ]
        why = "; ".join(reasons) + (
            f"; still failing together: {', '.join(still)}" if still else ""
        )
        findings += _findings_for(
            rule, ctx, wanted, why, metric="stress", value=None, threshold=rule.margin_of_safety
        )
    return RuleOutcome(tuple(findings))


def account_episode_key(rule_id: str) -> str:
    """State key of an account-level episode (not pruned with positions)."""
    return f"{rule_id}|@account"


def window_drawdown(ctx: RuleContext, window: timedelta) -> tuple[Decimal | None, Decimal | None]:
    """(peak equity within `window`, drawdown from it) — None when there is no positive peak."""
    now = ctx.snapshot.taken_at
    equity = ctx.metrics.equity
    peak = max((e for t, e in ctx.peaks if now - t <= window), default=equity)
    peak = max(peak, equity)
    if peak <= ZERO:
        return None, None
    return peak, max((peak - equity) / peak, ZERO)


def drawdown(rule: DrawdownRule, ctx: RuleContext) -> RuleOutcome:
    """Once per episode: cut `reduce` of every selected position (or flatten) when equity has
    fallen `max_drawdown` below its peak within `window`; re-arm at or below `rearm`."""
    key = account_episode_key(rule.id)
    peak, value = window_drawdown(ctx, rule.window)
    episode = ctx.state.episodes.get(key)
    if value is None or peak is None:
        return RuleOutcome()
    if episode is not None and value <= rule.rearm:
        note = Finding(
            rule.id,
            rule_kind(rule),
            Severity.INFO,
            f"drawdown {pct(value)} is back at or below the re-arm level {pct(rule.rearm)}: "
            f"episode {episode.number} ends",
            metric="drawdown_pct",
            value=value,
            threshold=rule.rearm,
        )
        return RuleOutcome((note,), episodes=frozen_map({key: None}))
    if value < rule.max_drawdown or episode is not None:
        return RuleOutcome()
    last = ctx.state.last_fired.get(key)
    now = ctx.snapshot.taken_at
    if last is not None and now - last < rule.cooldown:
        return RuleOutcome()
    number = ctx.state.episode_counters.get(key, 0) + 1
    fraction = ONE if rule.action is DrawdownAction.FLATTEN else (rule.reduce or ONE)
    quantities: dict[PositionKey, Decimal] = {}
    for position in selected(rule, ctx):
        step = ctx.snapshot.market(position.symbol).amount_step
        quantities[position.key] = ceil_step(position.quantity * fraction, step, position.quantity)
    verb = "flatten" if rule.action is DrawdownAction.FLATTEN else f"cut {pct(fraction)} of"
    why = (
        f"equity {ctx.metrics.equity.quantize(Decimal('0.01'))} is {pct(value)} below its "
        f"{rule.window} peak {peak.quantize(Decimal('0.01'))} (limit {pct(rule.max_drawdown)}, "
        f"episode {number}): {verb} every selected position"
    )
    findings = _findings_for(
        rule,
        ctx,
        quantities,
        why,
        metric="drawdown_pct",
        value=value,
        threshold=rule.max_drawdown,
        level=False,
    )
    # one step per position, all tied to this episode
    unique = [
        _with_step(f, f"{key}|e{number}|{f.symbol}|{f.side.value if f.side else ''}")
        for f in findings
    ]
    return RuleOutcome(
        tuple(unique),
        episodes=frozen_map({key: LadderEpisode(number, ZERO, frozenset({0}))}),
        episode_counters=frozen_map({key: number}),
        fired_at=frozen_map({key: now}),
    )


def _with_step(finding: Finding, step: str) -> Finding:
    request = finding.request
    if request is None:
        return finding
    return replace(finding, request=replace(request, step=step))
