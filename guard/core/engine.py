"""The decision engine: evaluate(snapshot, policies, state) -> Decision; pure and deterministic.
Invariants: per position the largest request wins (every reason kept), never above the position's
size; level-triggered requests are net of reductions already in flight."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from guard.core.domain import (
    ZERO,
    AccountSnapshot,
    Alert,
    Decision,
    Execution,
    Finding,
    GuardState,
    LadderEpisode,
    MarginMode,
    PositionKey,
    ReduceRequest,
    Reduction,
    Severity,
    Side,
    frozen_map,
    require_utc,
)
from guard.core.liquidation_check import cross_check_liquidation
from guard.core.margin import AccountMetrics, measure
from guard.core.policy.kinds_drawdown import drawdown
from guard.core.policy.kinds_funding import funding_threshold
from guard.core.policy.kinds_ladder import exit_ladder
from guard.core.policy.kinds_levels import buffer_floor, exposure_cap, leverage_cap
from guard.core.policy.kinds_stress import stress_rule
from guard.core.policy.rules import RuleContext, RuleOutcome, stale_data
from guard.core.policy.schema import PolicySet
from guard.core.policy.schema_fields import RuleBase
from guard.core.policy.schema_ladders import DrawdownRule, ExitLadderRule
from guard.core.policy.schema_levels import (
    BufferFloorRule,
    ExposureCapRule,
    FundingThresholdRule,
    LeverageCapRule,
    StaleDataRule,
)
from guard.core.policy.schema_stress import StressRule
from guard.core.position_risk import PositionRisk
from guard.core.venues.base import VenueRules
from guard.core.volatility import CandleSeries

PEAK_HISTORY = timedelta(days=30)
# a ladder's per-position memory, counters "<rule>|<symbol>|<side>|<what>", dropped on close
POSITION_MEMORY = ("room", "seen", "confirm", "calm", "equity")
# Computed vs venue-reported liquidation price: a relative divergence above this is an alert.
LIQUIDATION_TOLERANCE = Decimal("0.01")
# an enum's .value without the enum property's call (per position, every tick)
_TEXT: dict[Side | MarginMode, str] = {e: e.value for e in (*Side, *MarginMode)}


def evaluate(
    snapshot: AccountSnapshot,
    policies: PolicySet,
    state: GuardState,
    venue: VenueRules,
    evaluated_at: datetime | None = None,
    liquidation_tolerance: Decimal = LIQUIDATION_TOLERANCE,
    candles: Mapping[str, CandleSeries] | None = None,
) -> Decision:
    """Run every enabled rule that selects this account and merge their requests per position.
    `candles` (by candle_key) feed the volatility metrics and units; without them those rules hold.

    Also cross-checks computed liquidation prices against the venue's (alerts, never orders)."""
    now = require_utc(evaluated_at or snapshot.taken_at, "evaluated_at")
    metrics = measure(snapshot, venue)
    peaks = _updated_peaks(state.equity_peaks, snapshot.taken_at, metrics.equity)
    drawdown = _drawdown(peaks, metrics.equity)
    ctx = RuleContext(snapshot, metrics, state, venue, drawdown, peaks, candles or frozen_map())
    age = Decimal(str((now - snapshot.taken_at).total_seconds()))
    outcomes: list[RuleOutcome] = []
    for rule in policies.rules:
        if not rule.enabled or not rule.select.matches_account(snapshot.account):
            continue
        outcomes.append(_alerting(rule, _cooled(rule, _run(rule, ctx, age), state, now), ctx))
    findings = tuple(f for outcome in outcomes for f in outcome.findings)
    divergences = tuple(
        replace(a, account=a.account or snapshot.account)
        for a in cross_check_liquidation(metrics, liquidation_tolerance)
    )
    alerts = tuple(a for outcome in outcomes for a in outcome.alerts) + divergences
    stale = any(f.kind == "stale_data" and f.severity is Severity.CRITICAL for f in findings)
    requests = [f.request for f in findings if f.request is not None]
    reductions = () if stale else merge(requests, snapshot, state.in_flight)
    # Nothing is remembered from stale data: a band that "fired" without an order would be lost.
    next_state = state if stale else _next_state(state, outcomes, snapshot, peaks)
    return Decision(
        account=snapshot.account,
        taken_at=snapshot.taken_at,
        findings=findings,
        reductions=reductions,
        alerts=alerts,
        next_state=next_state,
        metrics=frozen_map(_summary(metrics, drawdown)),
        positions=tuple(
            PositionRisk(
                m.key.symbol,
                _TEXT[m.key.side],
                _TEXT[m.margin_mode],
                m.quantity,
                m.mark_price,
                m.leverage,
                m.liquidation_price,
                m.liquidation_distance,
            )
            for m in metrics.positions
        ),
    )


def _run(rule: RuleBase, ctx: RuleContext, age: Decimal) -> RuleOutcome:
    evaluator = _EVALUATORS.get(type(rule))  # the kinds themselves, by one lookup
    if evaluator is not None:
        return evaluator(rule, ctx)
    match rule:  # subclasses of the kinds, and stale_data (it needs the age)
        case ExitLadderRule():
            return exit_ladder(rule, ctx)
        case StaleDataRule():
            return stale_data(rule, ctx, age)
        case BufferFloorRule():
            return buffer_floor(rule, ctx)
        case FundingThresholdRule():
            return funding_threshold(rule, ctx)
        case LeverageCapRule():
            return leverage_cap(rule, ctx)
        case ExposureCapRule():
            return exposure_cap(rule, ctx)
        case StressRule():
            return stress_rule(rule, ctx)
        case DrawdownRule():
            return drawdown(rule, ctx)
    raise TypeError(f"no evaluator for rule kind {type(rule).__name__}")


_EVALUATORS: dict[type, Callable[[Any, RuleContext], RuleOutcome]] = {
    ExitLadderRule: exit_ladder,
    BufferFloorRule: buffer_floor,
    FundingThresholdRule: funding_threshold,
    LeverageCapRule: leverage_cap,
    ExposureCapRule: exposure_cap,
    StressRule: stress_rule,
    DrawdownRule: drawdown,
}
_SELF_COOLING = (ExitLadderRule, DrawdownRule, StaleDataRule)


def _cooled(rule: RuleBase, outcome: RuleOutcome, state: GuardState, now: datetime) -> RuleOutcome:
    """Apply a level rule's cooldown: within it, findings stay but their requests are dropped;
    otherwise a rule that requests something is remembered as fired at `now` (key: rule id).
    Ladders and drawdown keep their own per-episode cooldown."""
    if isinstance(rule, _SELF_COOLING):
        return outcome
    if not any(f.request is not None for f in outcome.findings):
        return outcome
    last = state.last_fired.get(rule.id)
    if last is not None and rule.cooldown > timedelta(0) and now - last < rule.cooldown:
        until = last + rule.cooldown
        findings = tuple(
            replace(
                f,
                severity=Severity.WARNING,
                reason=f"{f.reason} (cooling down until {until.isoformat()}: no order)",
                request=None,
            )
            if f.request is not None
            else f
            for f in outcome.findings
        )
        return replace(outcome, findings=findings)
    return replace(outcome, fired_at=frozen_map({**outcome.fired_at, rule.id: now}))


def _alerting(rule: RuleBase, outcome: RuleOutcome, ctx: RuleContext) -> RuleOutcome:
    """An `alert_only` rule keeps its memory (a band alerts once per episode) but every finding
    that would reduce becomes a WARNING without a request, plus an alert: it never orders."""
    if not rule.alert_only:
        return outcome
    findings: list[Finding] = []
    alerts = list(outcome.alerts)
    for finding in outcome.findings:
        if finding.request is None:
            findings.append(finding)
            continue
        reason = f"{finding.reason} (alert only: no order)"
        findings.append(replace(finding, severity=Severity.WARNING, reason=reason, request=None))
        alerts.append(
            Alert("rule_alert", Severity.WARNING, reason, ctx.snapshot.account, finding.symbol)
        )
    return replace(outcome, findings=tuple(findings), alerts=tuple(alerts))


def merge(
    requests: list[ReduceRequest],
    snapshot: AccountSnapshot,
    in_flight: Mapping[PositionKey, Decimal],
) -> tuple[Reduction, ...]:
    """Largest reduction per position wins, all reasons kept, capped at the position size.

    One-shot requests (new ladder steps) stand as they are; level-triggered requests restate a
    target every tick, so reductions already in flight are subtracted from them.
    """
    by_key: dict[PositionKey, list[ReduceRequest]] = defaultdict(list)
    for request in requests:
        by_key[request.key].append(request)
    merged: list[Reduction] = []
    for key in sorted(by_key):
        position = snapshot.position(key)
        if position is None:
            continue
        group = by_key[key]
        one_shot = max((r.quantity for r in group if not r.level), default=ZERO)
        level = max((r.quantity for r in group if r.level), default=ZERO)
        pending = in_flight.get(key, ZERO)
        net_level = max(level - pending, ZERO)
        quantity = min(max(one_shot, net_level), max(position.quantity - pending, ZERO))
        if quantity <= ZERO:
            continue
        winner = max(group, key=lambda r: (r.quantity, r.rule_id))
        execution = winner.execution or Execution()
        merged.append(
            Reduction(
                key=key,
                quantity=quantity,
                rule_ids=tuple(sorted({r.rule_id for r in group})),
                reasons=tuple(r.reason for r in sorted(group, key=lambda r: r.rule_id)),
                steps=tuple(sorted(r.step for r in group)),
                execution=execution,
            )
        )
    return tuple(merged)


def _next_state(
    state: GuardState,
    outcomes: list[RuleOutcome],
    snapshot: AccountSnapshot,
    peaks: tuple[tuple[datetime, Decimal], ...],
) -> GuardState:
    episodes: dict[str, LadderEpisode] = dict(state.episodes)
    counters = dict(state.episode_counters)
    fired = dict(state.last_fired)
    plain = dict(state.counters)
    for outcome in outcomes:
        for key, episode in outcome.episodes.items():
            if episode is None:
                episodes.pop(key, None)
            else:
                episodes[key] = episode
        counters.update(outcome.episode_counters)
        fired.update(outcome.fired_at)
        for name, count in outcome.counters.items():
            if count is None:
                plain.pop(name, None)
            else:
                plain[name] = count
    open_keys = {f"{p.symbol}|{_TEXT[p.side]}" for p in snapshot.positions}
    for key in list(episodes):
        suffix = key.split("|", 1)[1]
        if not suffix.startswith("@") and suffix not in open_keys:
            del episodes[key]  # the position is gone: its episode ends with it
    for name in list(plain):  # a ladder's per-position memory (room, seen, confirm) goes too
        parts = name.split("|")
        closed = len(parts) == 4 and f"{parts[1]}|{parts[2]}" not in open_keys
        if closed and parts[3] in POSITION_MEMORY:
            del plain[name]
    return replace(
        state,
        episodes=frozen_map(dict(sorted(episodes.items()))),
        episode_counters=frozen_map(dict(sorted(counters.items()))),
        last_fired=frozen_map(dict(sorted(fired.items()))),
        counters=frozen_map(dict(sorted(plain.items()))),
        equity_peaks=peaks,
    )


def _updated_peaks(
    peaks: tuple[tuple[datetime, Decimal], ...], now: datetime, equity: Decimal
) -> tuple[tuple[datetime, Decimal], ...]:
    """Keep a monotone queue of (time, equity) so the running peak within the window is first."""
    kept = [(t, e) for t, e in peaks if now - t <= PEAK_HISTORY and e > equity]
    kept.append((now, equity))
    return tuple(kept)


def _drawdown(peaks: tuple[tuple[datetime, Decimal], ...], equity: Decimal) -> Decimal | None:
    peak = max((e for _, e in peaks), default=None)
    if peak is None or peak <= ZERO:
        return None
    return max((peak - equity) / peak, ZERO)


def _summary(metrics: AccountMetrics, drawdown: Decimal | None) -> dict[str, Decimal | None]:
    return {
        "equity": metrics.equity,
        "maintenance_margin": metrics.maintenance_margin,
        "margin_ratio": metrics.margin_ratio,
        "free_collateral": metrics.free_collateral,
        "leverage": metrics.leverage,
        "worst_liquidation_distance": metrics.worst_liquidation_distance,
        "drawdown": drawdown,
    }
