"""funding_threshold, leverage_cap and exposure_cap equal, digit for digit and in their memory's
order, their versions before issue 17's cheaper evaluation (kept here verbatim but for their
names): funding annualised and indexed once per interval, positions ranked only for the account
cap, exposure summed without enum properties (hypothesis, over random tick sequences)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guard.core.domain import ONE, ZERO, Finding, MarginMode, Position, PositionKey, frozen_map
from guard.core.policy.kinds_funding import (
    YEAR,
    _note,
    funding_interval_index,
    funding_threshold,
)
from guard.core.policy.kinds_levels import _restoring, _x, exposure_cap, leverage_cap
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
    ExposureCapRule,
    ExposureMeasure,
    ExposureScope,
    FundingAction,
    FundingThresholdRule,
    LeverageCapRule,
    RateSource,
    ReductionOrder,
)
from tests.core.engine.helpers import policies
from tests.core.engine.ticks import contexts, outcome, ticks

# ---- reference: kinds_funding.py and kinds_levels.py before issue 17's cheaper evaluation ----


def former_funding_threshold(rule: FundingThresholdRule, ctx: RuleContext) -> RuleOutcome:
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
        findings += findings_for(
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


def former_leverage_cap(rule: LeverageCapRule, ctx: RuleContext) -> RuleOutcome:
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
            else metrics.gross_exposure - rule.account * rule.restore_to * metrics.equity
        )
        why = (
            f"account gross leverage {_x(metrics.leverage)} is above the cap {_x(rule.account)}"
            + _restoring(rule.restore_to, rule.account)
        )
        pro_rata = rule.order is ReductionOrder.PRO_RATA
        for key, quantity in allocate_notional(chosen, ctx, excess, pro_rata).items():
            want(key, quantity, why, metrics.leverage, rule.account)
    if rule.position is not None:
        for position in chosen:
            m = ctx.metrics.position(position.key)
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


def former_exposure_cap(rule: ExposureCapRule, ctx: RuleContext) -> RuleOutcome:
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


# ---- random rules ----

ORDERS = st.sampled_from(["highest_leverage", "largest_loss", "highest_funding_cost", "pro_rata"])


@st.composite
def funding_rules(draw: st.DrawFn) -> dict[str, Any]:
    annualised = draw(st.booleans())
    rule: dict[str, Any] = {
        "kind": "funding_threshold",
        "threshold": draw(st.sampled_from(["10%", "30%"] if annualised else ["0.005%", "0.01%"])),
        "annualised": annualised,
        "rate": draw(st.sampled_from(["current", "current", "predicted"])),
        "sustained": draw(st.integers(1, 3)),
    }
    if draw(st.booleans()):
        rule |= {"action": "reduce", "reduce": draw(st.sampled_from(["20%", "50%"]))}
    if draw(st.booleans()):
        rule["window"] = draw(st.sampled_from(["30m", "2h"]))
    return rule


@st.composite
def leverage_rules(draw: st.DrawFn) -> dict[str, Any]:
    caps = draw(st.sampled_from([("account",), ("position",), ("account", "position")]))
    rule: dict[str, Any] = {"kind": "leverage_cap", "order": draw(ORDERS)}
    for cap in caps:
        rule[cap] = draw(st.sampled_from(["1x", "2x", "5x", "10x"]))
    if draw(st.booleans()):
        rule["restore_to"] = "90%"
    if draw(st.booleans()):
        rule["min_order_notional"] = "50"
    if draw(st.booleans()):
        rule |= {"order": "priority", "priority": ["CCC/*", "AAA/*"]}
    return rule


@st.composite
def exposure_rules(draw: st.DrawFn) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "kind": "exposure_cap",
        "measure": draw(st.sampled_from(["gross", "net"])),
        "scope": draw(st.sampled_from(["total", "per_asset"])),
        "order": draw(ORDERS),
    }
    if draw(st.booleans()):
        rule["limit"] = draw(st.sampled_from(["500", "5000", "50000"]))
    else:
        rule["limit_pct_of_equity"] = draw(st.sampled_from(["50%", "200%", "800%"]))
    if draw(st.booleans()):
        rule["restore_to"] = "80%"
    if draw(st.booleans()):
        rule["select"] = {"symbols": ["AAA/*", "BBB/*", "CCC/*"]}
    return rule


PAIRS: dict[str, tuple[Callable[..., RuleOutcome], Callable[..., RuleOutcome]]] = {
    "funding_threshold": (funding_threshold, former_funding_threshold),
    "leverage_cap": (leverage_cap, former_leverage_cap),
    "exposure_cap": (exposure_cap, former_exposure_cap),
}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ticks(), st.one_of(funding_rules(), leverage_rules(), exposure_rules()))
def test_level_rules_when_any_ticks_then_identical_to_the_former_rules(
    snapshots: list[Any], spec: dict[str, Any]
) -> None:
    policy = policies(spec)
    (rule,) = policy.rules
    new, former = PAIRS[spec["kind"]]
    for context in contexts(snapshots, policy):
        assert outcome(new, rule, context) == outcome(former, rule, context)
