"""exit_ladder equals, digit for digit and in its memory's order, the version before issue 17's
cheaper evaluation (kept here verbatim but for its name): the selector, metric field and triggers
read once per rule, the value described only for a message (hypothesis, over random tick
sequences whose memory the engine carries)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guard.core.domain import (
    ZERO,
    AccountSnapshot,
    Alert,
    Finding,
    GuardState,
    LadderEpisode,
    ReduceRequest,
    Severity,
    frozen_map,
)
from guard.core.engine import evaluate
from guard.core.margin import measure
from guard.core.numbers import market_quantity
from guard.core.policy.kinds_ladder import (
    _band_list,
    _is_worse_or_equal,
    _ladder_value,
    episode_key,
    exit_ladder,
)
from guard.core.policy.progress import progress, room_key
from guard.core.policy.rules import RuleContext, RuleOutcome, rule_kind
from guard.core.policy.schema_ladders import AtStart, ExitLadderRule, LadderMetric
from guard.core.policy.units import format_percent
from guard.core.policy.vol_metrics import candle_value
from guard.core.policy.vol_metrics import describe_level as describe
from guard.core.position_risk import PositionRisk
from guard.core.venues.paper import RULES
from tests.core.engine.helpers import policies
from tests.core.engine.ticks import contexts, outcome, ticks

# ---- reference: guard/core/policy/rules.py's exit_ladder before issue 17's cheaper evaluation ----


def former_exit_ladder(rule: ExitLadderRule, ctx: RuleContext) -> RuleOutcome:
    """Fire each band at most once per episode; reduce the fired fraction of the start size.

    A breach must hold `confirm_ticks` evaluations in a row; bands a position is already inside
    when the rule first sees it are reported, not acted on, unless `at_start: act`."""
    direction = rule.effective_direction
    findings: list[Finding] = []
    alerts: list[Alert] = []
    episodes: dict[str, LadderEpisode | None] = {}
    counters: dict[str, int] = {}
    plain: dict[str, int | None] = {}
    fired_at: dict[str, datetime] = {}
    now = ctx.snapshot.taken_at
    for position in ctx.snapshot.positions:
        if not rule.select.matches_position(position):
            continue
        metrics = ctx.metrics.position(position.key)
        if metrics is None:
            continue
        key = episode_key(rule.id, position)
        if rule.metric is LadderMetric.LIQUIDATION_PROGRESS:
            remembered = ctx.state.counters.get(room_key(key))
            value, room = progress(position, metrics, remembered)
            if room is not None and room != remembered:
                plain[room_key(key)] = room
        else:
            value = _ladder_value(rule, metrics, ctx)
        if rule.needs_candles:
            value, why = candle_value(rule, position, metrics, ctx.candles, now, value)
            if value is None and why:  # never act on absent data: hold, memory unchanged
                findings.append(
                    Finding(
                        rule.id,
                        rule_kind(rule),
                        Severity.WARNING,
                        f"cannot evaluate {rule.metric.value}: {why}; holding (no order on "
                        f"absent data)",
                        position.symbol,
                        position.side,
                        rule.metric.value,
                    )
                )
                continue
        episode = ctx.state.episodes.get(key)
        if value is None:
            continue
        first_sight = False
        if rule.at_start is AtStart.WARN:
            first_sight = ctx.state.counters.get(f"{key}|seen") is None
            plain[f"{key}|seen"] = 1
        confirm_key = f"{key}|confirm"
        shown = describe(rule, value)
        if (
            episode is not None
            and not _is_worse_or_equal(direction, value, rule.rearm)
            and (value != rule.rearm)
        ):
            episodes[key] = None
            findings.append(
                Finding(
                    rule.id,
                    rule_kind(rule),
                    Severity.INFO,
                    f"{rule.metric.value} {shown} recovered past the re-arm level "
                    f"{describe(rule, rule.rearm)}: episode {episode.number} ends",
                    position.symbol,
                    position.side,
                    rule.metric.value,
                    value,
                    rule.rearm,
                )
            )
            continue
        breached = frozenset(
            index
            for index, band in enumerate(rule.bands)
            if _is_worse_or_equal(direction, value, band.trigger)
        )
        new = breached - (episode.fired_bands if episode is not None else frozenset())
        if not new:
            if confirm_key in ctx.state.counters:
                plain[confirm_key] = None  # the breach did not hold: confirmation starts over
            continue
        if rule.confirm_ticks > 1:
            held = ctx.state.counters.get(confirm_key, 0) + 1
            if held < rule.confirm_ticks:
                plain[confirm_key] = held
                findings.append(
                    Finding(
                        rule.id,
                        rule_kind(rule),
                        Severity.INFO,
                        f"{rule.metric.value} {shown} reached band(s) {_band_list(new)}: held "
                        f"{held} of {rule.confirm_ticks} ticks, waiting for confirmation",
                        position.symbol,
                        position.side,
                        rule.metric.value,
                        value,
                    )
                )
                continue
            plain[confirm_key] = None
        if episode is None:
            number = ctx.state.episode_counters.get(key, 0) + 1
            episode = LadderEpisode(number=number, start_quantity=position.quantity)
            counters[key] = number
        if first_sight and rule.at_start is AtStart.WARN:
            message = (
                f"{position.symbol} {position.side.value} starts inside band(s) "
                f"{_band_list(new)} of {rule.id} ({rule.metric.value} {shown}): reported, not "
                f"cut; deeper bands still act (at_start: warn)"
            )
            findings.append(
                Finding(
                    rule.id,
                    rule_kind(rule),
                    Severity.WARNING,
                    message,
                    position.symbol,
                    position.side,
                    rule.metric.value,
                    value,
                )
            )
            alerts.append(
                Alert(
                    "startup_band", Severity.WARNING, message, ctx.snapshot.account, position.symbol
                )
            )
            episodes[key] = episode.with_fired(new)
            continue
        last = ctx.state.last_fired.get(key)
        if last is not None and now - last < rule.cooldown:
            findings.append(
                Finding(
                    rule.id,
                    rule_kind(rule),
                    Severity.WARNING,
                    f"{rule.metric.value} {shown} reached band(s) "
                    f"{_band_list(new)} but the rule is cooling down until {last + rule.cooldown}",
                    position.symbol,
                    position.side,
                    rule.metric.value,
                    value,
                )
            )
            episodes[key] = episode
            continue
        fraction = sum((rule.bands[i].reduce for i in new), ZERO)
        quantity = min(fraction * episode.start_quantity, position.quantity)
        deepest = max(new)
        trigger = rule.bands[deepest].trigger
        market = ctx.snapshot.markets.get(position.symbol)
        reason = (
            f"{rule.metric.value} {shown} is at or {direction.value} band {_band_list(new)} "
            f"trigger {describe(rule, trigger)} (episode {episode.number}): reduce "
            f"{format_percent(fraction)} of the episode-start size "
            f"{market_quantity(episode.start_quantity, market)} "
            f"= {market_quantity(quantity, market)} {position.symbol}"
        )
        step = f"{key}|e{episode.number}|b{'+'.join(str(i + 1) for i in sorted(new))}"
        request = ReduceRequest(
            rule_id=rule.id,
            key=position.key,
            quantity=quantity,
            reason=reason,
            step=step,
            level=False,
            execution=rule.execution.to_domain(),
        )
        findings.append(
            Finding(
                rule.id,
                rule_kind(rule),
                Severity.BREACH,
                reason,
                position.symbol,
                position.side,
                rule.metric.value,
                value,
                trigger,
                request,
            )
        )
        episodes[key] = episode.with_fired(new)
        fired_at[key] = now
    return RuleOutcome(
        tuple(findings),
        tuple(alerts),
        frozen_map(episodes),
        frozen_map(counters),
        frozen_map(fired_at),
        frozen_map(plain),
    )


# ---- random ladders ----

LADDERS: list[dict[str, Any]] = [
    {
        "metric": "liquidation_distance",
        "bands": [
            {"trigger": "60%", "reduce": "25%"},
            {"trigger": "40%", "reduce": "25%"},
            {"trigger": "20%", "reduce": "100%"},
        ],
        "rearm": "70%",
    },
    {
        "metric": "margin_ratio",
        "bands": [{"trigger": "1%", "reduce": "30%"}, {"trigger": "3%", "reduce": "50%"}],
        "rearm": "0.5%",
    },
    {
        "metric": "unrealized_loss_pct",
        "bands": [{"trigger": "3%", "reduce": "20%"}, {"trigger": "10%", "reduce": "40%"}],
        "rearm": "1%",
    },
    {
        "metric": "mark_price",
        "direction": "below",
        "bands": [{"trigger": "95", "reduce": "50%"}, {"trigger": "80", "reduce": "100%"}],
        "rearm": "105",
    },
    {
        "metric": "liquidation_progress",
        "bands": [{"trigger": "5%", "reduce": "25%"}, {"trigger": "15%", "reduce": "50%"}],
        "rearm": "2%",
    },
    {"metric": "drawdown_pct", "bands": [{"trigger": "2%", "reduce": "10%"}], "rearm": "1%"},
]


@st.composite
def ladders(draw: st.DrawFn) -> dict[str, Any]:
    rule: dict[str, Any] = {"kind": "exit_ladder", **draw(st.sampled_from(LADDERS))}
    rule["confirm_ticks"] = draw(st.integers(1, 3))
    rule["at_start"] = draw(st.sampled_from(["warn", "act"]))
    if draw(st.booleans()):
        rule["cooldown"] = draw(st.sampled_from(["1m", "2h"]))
    select = draw(
        st.sampled_from(
            [None, {"symbols": ["AAA/*", "CCC/*"]}, {"side": "short"}, {"margin_mode": "cross"}]
        )
    )
    if select is not None:
        rule["select"] = select
    return rule


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ticks(), ladders())
def test_exit_ladder_when_any_ticks_then_identical_to_the_former_ladder(
    snapshots: list[AccountSnapshot], ladder: dict[str, Any]
) -> None:
    policy = policies(ladder)
    (rule,) = policy.rules
    assert isinstance(rule, ExitLadderRule)
    for context in contexts(snapshots, policy):
        expected = outcome(former_exit_ladder, rule, context)
        assert outcome(exit_ladder, rule, context) == expected


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ticks())
def test_evaluate_when_any_ticks_then_position_risks_built_as_before(
    snapshots: list[AccountSnapshot],
) -> None:
    """Decision.positions (read by `guard status`): the enums' texts come from a table now."""
    policy = policies({"kind": "stale_data", "max_age": "2m"})
    for snap in snapshots:
        former = tuple(
            PositionRisk(
                m.key.symbol,
                m.key.side.value,
                m.margin_mode.value,
                m.quantity,
                m.mark_price,
                m.leverage,
                m.liquidation_price,
                m.liquidation_distance,
            )
            for m in measure(snap, RULES).positions
        )
        decision = evaluate(snap, policy, GuardState(), RULES)
        assert repr(decision.positions) == repr(former)
