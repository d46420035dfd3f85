"""The exit_ladder rule kind (pure): each band fires at most once per episode and reduces its
fraction of the episode-start size; breaches confirmed, held back by a volatility gate, reported at
start; never raises for a denial, never reads a clock (now is snapshot.taken_at)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from guard.core.domain import (
    ZERO,
    Alert,
    Finding,
    LadderEpisode,
    Position,
    ReduceRequest,
    Severity,
    Side,
    frozen_map,
)
from guard.core.margin import PositionMetrics
from guard.core.numbers import market_quantity
from guard.core.policy.progress import equity_key, equity_loss, progress, room_key
from guard.core.policy.rules import RuleContext, RuleOutcome, rule_kind
from guard.core.policy.schema_fields import RuleBase, SelectorMode, SelectorSide
from guard.core.policy.schema_ladders import AtStart, Direction, ExitLadderRule, LadderMetric
from guard.core.policy.units import format_duration, format_percent
from guard.core.policy.vol_metrics import candle_value, gate_reason
from guard.core.policy.vol_metrics import describe_level as describe


def episode_key(rule_id: str, position: Position) -> str:
    return f"{rule_id}|{position.symbol}|{position.side.value}"


# metrics read straight from a position's PositionMetrics (the others: see _ladder_value)
_METRIC_FIELDS = {
    LadderMetric.LIQUIDATION_DISTANCE: "liquidation_distance",
    LadderMetric.MARGIN_RATIO: "margin_ratio",
    LadderMetric.UNREALIZED_LOSS_PCT: "unrealized_loss_pct",
    LadderMetric.MARK_PRICE: "mark_price",
}
_SIDE_TEXT = {side: side.value for side in Side}  # Side.value without the enum property call
_NONE: frozenset[int] = frozenset()


def _selects_every_position(rule: RuleBase) -> bool:
    """The default selector (every symbol, mode and side): matches_position is True for all."""
    select = rule.select
    return (
        select.symbols == ("*",)
        and select.margin_mode is SelectorMode.ANY
        and select.side is SelectorSide.ANY
    )


def _ladder_value(
    rule: ExitLadderRule, metrics: PositionMetrics, ctx: RuleContext
) -> Decimal | None:
    match rule.metric:
        case LadderMetric.LIQUIDATION_DISTANCE:
            return metrics.liquidation_distance
        case LadderMetric.MARGIN_RATIO:
            return metrics.margin_ratio
        case LadderMetric.UNREALIZED_LOSS_PCT:
            return metrics.unrealized_loss_pct
        case LadderMetric.DRAWDOWN_PCT:
            return ctx.drawdown
        case LadderMetric.MARK_PRICE:
            return metrics.mark_price
        case LadderMetric.LIQUIDATION_PROGRESS | LadderMetric.EQUITY_LOSS_PCT:
            raise ValueError(f"{rule.metric.value} needs the remembered start: see exit_ladder")
        case LadderMetric.VOLATILITY | LadderMetric.PULLBACK:
            return None  # from the candles: see candle_value


def _is_worse_or_equal(direction: Direction, value: Decimal, level: Decimal) -> bool:
    return value <= level if direction is Direction.BELOW else value >= level


def exit_ladder(rule: ExitLadderRule, ctx: RuleContext) -> RuleOutcome:
    """Fire each band at most once per episode; reduce the fired fraction of the start size.

    A breach must hold `confirm_ticks` evaluations in a row; bands a position is already inside
    when the rule first sees it are reported, not acted on, unless `at_start: act`."""
    direction = rule.effective_direction
    below = direction is Direction.BELOW
    findings: list[Finding] = []
    alerts: list[Alert] = []
    episodes: dict[str, LadderEpisode | None] = {}
    counters: dict[str, int] = {}
    plain: dict[str, int | None] = {}
    fired_at: dict[str, datetime] = {}
    now = ctx.snapshot.taken_at
    # the same for every position: read once (the selector, the metric's field, the triggers)
    selects_all = _selects_every_position(rule)
    by_progress = rule.metric is LadderMetric.LIQUIDATION_PROGRESS
    by_equity_loss = rule.metric is LadderMetric.EQUITY_LOSS_PCT
    field_name = _METRIC_FIELDS.get(rule.metric)
    needs_candles = rule.needs_candles
    warn_at_start = rule.at_start is AtStart.WARN
    triggers = [band.trigger for band in rule.bands]
    metrics_of = ctx.metrics.position
    remembered_counters = ctx.state.counters
    for position in ctx.snapshot.positions:
        if not selects_all and not rule.select.matches_position(position):
            continue
        metrics = metrics_of(position.key)
        if metrics is None:
            continue
        key = f"{rule.id}|{position.symbol}|{_SIDE_TEXT[position.side]}"  # episode_key
        if by_progress:
            remembered = remembered_counters.get(room_key(key))
            value, room = progress(position, metrics, remembered)
            if room is not None and room != remembered:
                plain[room_key(key)] = room
        elif by_equity_loss:
            remembered = remembered_counters.get(equity_key(key))
            value, start = equity_loss(ctx.metrics.equity, remembered)
            if start is not None and start != remembered:
                plain[equity_key(key)] = start
        elif field_name is not None:
            value = getattr(metrics, field_name)
        else:
            value = _ladder_value(rule, metrics, ctx)
        if needs_candles:
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
        if warn_at_start:
            first_sight = remembered_counters.get(f"{key}|seen") is None
            plain[f"{key}|seen"] = 1
        confirm_key = f"{key}|confirm"
        recovered = (
            episode is not None
            and not _is_worse_or_equal(direction, value, rule.rearm)
            and (value != rule.rearm)
        )
        calm_key = f"{key}|calm"
        if episode is not None and recovered and _still_settling(rule, ctx, calm_key, plain):
            if calm_key in plain:  # the first tick past the re-arm level: say so once
                findings.append(
                    Finding(
                        rule.id,
                        rule_kind(rule),
                        Severity.INFO,
                        f"{rule.metric.value} {describe(rule, value)} recovered past the re-arm "
                        f"level {describe(rule, rule.rearm)}: episode {episode.number} ends if it "
                        f"stays there for {format_duration(rule.rearm_after)}",
                        position.symbol,
                        position.side,
                        rule.metric.value,
                        value,
                        rule.rearm,
                    )
                )
        elif episode is not None and recovered:
            if calm_key in ctx.state.counters:
                plain[calm_key] = None
            episodes[key] = None
            findings.append(
                Finding(
                    rule.id,
                    rule_kind(rule),
                    Severity.INFO,
                    f"{rule.metric.value} {describe(rule, value)} recovered past the re-arm "
                    f"level {describe(rule, rule.rearm)}: episode {episode.number} ends",
                    position.symbol,
                    position.side,
                    rule.metric.value,
                    value,
                    rule.rearm,
                )
            )
            continue
        elif calm_key in remembered_counters:  # turned back before re-arming: same episode
            plain[calm_key] = None
        breached = [
            index
            for index, trigger in enumerate(triggers)
            if (value <= trigger if below else value >= trigger)  # _is_worse_or_equal
        ]
        new = (
            frozenset(breached) - (episode.fired_bands if episode is not None else frozenset())
            if breached
            else _NONE
        )
        if not new:
            if confirm_key in ctx.state.counters:
                plain[confirm_key] = None  # the breach did not hold: confirmation starts over
            continue
        shown = describe(rule, value)  # only now: most positions end above without a message
        held_back = "" if first_sight else gate_reason(rule, position, metrics, ctx.candles, now)
        if held_back:  # act_within: a slow move for the mark's volatility does not count
            if confirm_key in ctx.state.counters:
                plain[confirm_key] = None
            findings.append(
                Finding(
                    rule.id,
                    rule_kind(rule),
                    Severity.INFO,
                    f"{rule.metric.value} {shown} reached band(s) {_band_list(new)} but "
                    f"{held_back}; holding",
                    position.symbol,
                    position.side,
                    rule.metric.value,
                    value,
                )
            )
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


def _still_settling(
    rule: ExitLadderRule, ctx: RuleContext, calm_key: str, plain: dict[str, int | None]
) -> bool:
    """Whether a recovered episode must wait out `rearm_after` before it ends; starts the clock
    (epoch seconds in `plain`) on the first tick past the re-arm level."""
    if rule.rearm_after <= timedelta(0):
        return False
    now = ctx.snapshot.taken_at
    since = ctx.state.counters.get(calm_key)
    if since is None:
        plain[calm_key] = int(now.timestamp())
        return True
    return now - datetime.fromtimestamp(since, UTC) < rule.rearm_after


def _band_list(indices: frozenset[int]) -> str:
    return "+".join(str(i + 1) for i in sorted(indices))
