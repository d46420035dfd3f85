"""Volatility of the mark from candles: ATR (mean true range ÷ mark) and realized volatility (root
of the summed squared log close-to-close returns) over the last N completed, contiguous, fresh bars;
pure, Decimal. Too few, gapped or stale bars give no value and a reason: never a guess."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, localcontext
from enum import StrEnum

from guard.core.policy.units import format_duration


class VolatilityMeasure(StrEnum):
    ATR = "atr"  # mean true range of the last N bars ÷ the current mark
    REALIZED_VOL = "realized_vol"  # sqrt(Σ ln(close_i / close_i-1)²) over the last N returns


@dataclass(frozen=True, slots=True)
class Bar:
    """One candle of the mark (or of its documented proxy); `at` is the bar's open time (UTC)."""

    at: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal


@dataclass(frozen=True, slots=True)
class CandleSeries:
    """Candles of one market at one timeframe, oldest first, as the gateway fetched them."""

    timeframe: timedelta
    bars: tuple[Bar, ...]
    mark: bool = True  # False: last-trade candles standing in for the mark (a documented proxy)
    source: str = ""


@dataclass(frozen=True, slots=True)
class Reading:
    """A volatility value as a fraction of the price, or None with the reason it cannot be had."""

    value: Decimal | None
    reason: str


def candle_key(symbol: str, timeframe: timedelta) -> str:
    """Key of a market's candle series in the mapping the tick hands to the engine."""
    return f"{symbol}|{format_duration(timeframe)}"


def completed_bars(series: CandleSeries, now: datetime) -> tuple[Bar, ...]:
    """The bars that had closed by `now` (a bar still forming is left out)."""
    return tuple(bar for bar in series.bars if bar.at + series.timeframe <= now)


def true_ranges(bars: Sequence[Bar]) -> list[Decimal]:
    """True range of each bar after the first: max(high-low, |high-prev close|, |low-prev close|)."""
    return [
        max(bar.high - bar.low, abs(bar.high - before.close), abs(bar.low - before.close))
        for before, bar in itertools.pairwise(bars)
    ]


def average_true_range(bars: Sequence[Bar], count: int) -> Decimal:
    """Simple mean of the last `count` true ranges (needs count + 1 bars), in price units."""
    ranges = true_ranges(bars[-(count + 1) :])
    if len(ranges) < count:
        raise ValueError(f"ATR over {count} bars needs {count + 1} bars, got {len(bars)}")
    return sum(ranges, Decimal(0)) / count


def realized_volatility(bars: Sequence[Bar], count: int) -> Decimal:
    """sqrt(Σ ln(close_i / close_i-1)²) over the last `count` returns (needs count + 1 bars)."""
    closes = [bar.close for bar in bars[-(count + 1) :]]
    if len(closes) < count + 1:
        raise ValueError(f"realized volatility over {count} returns needs {count + 1} bars")
    with localcontext() as context:
        context.prec = 28
        squares = sum(((b / a).ln() ** 2 for a, b in itertools.pairwise(closes)), Decimal(0))
        return squares.sqrt()


def read(
    candles: Mapping[str, CandleSeries],
    symbol: str,
    timeframe: timedelta,
    count: int,
    measure: VolatilityMeasure,
    mark: Decimal,
    now: datetime,
) -> Reading:
    """The measure over the last `count` completed bars of `symbol`, as a fraction of the price;
    None with a reason when the candles are absent, short, gapped, stale or not positive."""
    what = f"{measure.value} of {symbol} over {count} × {format_duration(timeframe)}"
    series = candles.get(candle_key(symbol, timeframe))
    if series is None:
        return Reading(None, f"{what}: no candles from the venue")
    bars = completed_bars(series, now)[-(count + 1) :]
    if len(bars) < count + 1:
        return Reading(None, f"{what}: needs {count + 1} closed bars, the venue gave {len(bars)}")
    gaps = [b.at for a, b in itertools.pairwise(bars) if b.at - a.at != series.timeframe]
    if gaps:
        return Reading(None, f"{what}: candles missing before {gaps[0].isoformat()}")
    if now - (bars[-1].at + series.timeframe) >= series.timeframe:
        return Reading(
            None, f"{what}: the newest closed bar opened {bars[-1].at.isoformat()}, too old"
        )
    if any(min(b.open, b.high, b.low, b.close) <= 0 or b.low > b.high for b in bars):
        return Reading(None, f"{what}: a bar has a non-positive price or low above high")
    if mark <= 0:
        return Reading(None, f"{what}: the mark {mark} is not positive")
    if measure is VolatilityMeasure.ATR:
        value = average_true_range(bars, count) / mark
    else:
        value = realized_volatility(bars, count)
    if value <= 0:
        return Reading(None, f"{what}: zero over the window (flat candles): no volatility unit")
    source = "mark" if series.mark else "last-trade proxy of the mark"
    return Reading(value, f"{what} = {_show(value)} ({source})")


def best_price(
    candles: Mapping[str, CandleSeries],
    symbol: str,
    timeframe: timedelta,
    count: int,
    long: bool,
    now: datetime,
) -> Decimal | None:
    """The best price of the last `count` bars (highest high for a long, lowest low for a
    short), including the bar still forming; None when there are fewer than `count` bars."""
    series = candles.get(candle_key(symbol, timeframe))
    if series is None:
        return None
    bars = [bar for bar in series.bars if bar.at <= now][-count:]
    if len(bars) < count:
        return None
    return max(b.high for b in bars) if long else min(b.low for b in bars)


def _show(value: Decimal) -> str:
    return f"{(value * 100).quantize(Decimal('0.0001')).normalize():f}%"
