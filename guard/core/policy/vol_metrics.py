"""Ladder values that need the mark's candles: the volatility measure itself, the pullback of the
mark from its best price, and any price-move metric counted in volatility units; pure. Absent,
short or stale candles give no value and a reason, so the rule holds instead of guessing."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal

from guard.core.domain import ZERO, AccountSnapshot, Position, Side
from guard.core.margin import PositionMetrics
from guard.core.policy.schema import PolicySet
from guard.core.policy.schema_ladders import ExitLadderRule, LadderMetric, TriggerUnits
from guard.core.volatility import CandleSeries, best_price, read


def candle_value(
    rule: ExitLadderRule,
    position: Position,
    metrics: PositionMetrics,
    candles: Mapping[str, CandleSeries],
    now: datetime,
    base: Decimal | None,
) -> tuple[Decimal | None, str]:
    """(value, "") or (None, why it cannot be evaluated). `base` is the metric's own value for
    the metrics that do not need candles (liquidation distance, unrealized loss)."""
    spec = rule.volatility
    if spec is None:
        return base, ""
    mark = metrics.mark_price
    value = base
    if rule.metric is LadderMetric.PULLBACK:
        long = position.side is Side.LONG
        best = best_price(candles, position.symbol, spec.timeframe, spec.bars, long, now)
        if best is None or best <= ZERO:
            return None, (
                f"pullback of {position.symbol} needs {spec.bars} candles of the mark; "
                f"the venue gave fewer"
            )
        best = max(best, mark) if long else min(best, mark)  # the mark may be past the candles
        value = (best - mark) / best if long else (mark - best) / best
    needs_unit = rule.units is TriggerUnits.VOLATILITY or rule.metric is LadderMetric.VOLATILITY
    if not needs_unit:
        return value, ""
    reading = read(candles, position.symbol, spec.timeframe, spec.bars, spec.measure, mark, now)
    if reading.value is None:
        return None, reading.reason
    if rule.metric is LadderMetric.VOLATILITY:
        return reading.value, ""
    if value is None:
        return None, ""
    return value / reading.value, ""


def describe_level(rule: ExitLadderRule, value: Decimal) -> str:
    """A metric value or trigger as the policy writes it: '2.5 atr', '12%' or a price; an infinite
    value (a margin ratio once the pool's equity is gone) as 'infinite'."""
    if value.is_nan():
        return "not a number"
    if value.is_infinite():
        return "-infinite" if value.is_signed() else "infinite"
    if rule.units is TriggerUnits.VOLATILITY and rule.volatility is not None:
        unit = "atr" if rule.volatility.measure.value == "atr" else "vol"
        return f"{value.quantize(Decimal('0.01')).normalize():f} {unit}"
    if rule.metric.is_percentage:
        return f"{(value * 100).quantize(Decimal('0.01')).normalize():f}%"
    return f"{value}"


def candle_needs(
    policies: PolicySet, snapshot: AccountSnapshot
) -> dict[tuple[str, timedelta], int]:
    """(symbol, timeframe) -> closed bars needed by the enabled rules selecting this account's
    positions (the tick fetches these before evaluating)."""
    needs: dict[tuple[str, timedelta], int] = {}
    for rule in policies.rules:
        if not isinstance(rule, ExitLadderRule) or not rule.needs_candles:
            continue
        spec = rule.volatility
        if spec is None or not rule.enabled or not rule.select.matches_account(snapshot.account):
            continue
        for position in snapshot.positions:
            if rule.select.matches_position(position):
                key = (position.symbol, spec.timeframe)
                needs[key] = max(needs.get(key, 0), spec.bars + 1)
    return needs


def gate_reason(
    rule: ExitLadderRule,
    position: Position,
    metrics: PositionMetrics,
    candles: Mapping[str, CandleSeries],
    now: datetime,
) -> str:
    """Why the rule's `act_within` gate holds its bands back ("" when the gate is open): the
    liquidation distance is more than `act_within` units of the volatility measure. Absent
    candles, a zero measure or an unknown distance leave the gate open (it only ever holds back)."""
    spec = rule.volatility
    distance = metrics.liquidation_distance
    if rule.act_within is None or spec is None or distance is None:
        return ""
    mark = metrics.mark_price
    reading = read(candles, position.symbol, spec.timeframe, spec.bars, spec.measure, mark, now)
    if reading.value is None or reading.value <= ZERO:
        return ""
    units = distance / reading.value
    if units <= rule.act_within:
        return ""
    unit = "atr" if spec.measure.value == "atr" else "vol"
    shown = units.quantize(Decimal("0.01")).normalize()
    return (
        f"the liquidation distance is {shown:f} {unit}, more than act_within "
        f"{rule.act_within.normalize():f} {unit}: the move is slow for the mark's volatility"
    )
