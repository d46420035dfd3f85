"""Volatility of the mark from candles (ATR, realized volatility) with hand-checked numbers, and
no value (a reason instead) from absent, short, gapped or stale candles."""

from __future__ import annotations

import math
from datetime import timedelta
from decimal import Decimal

from guard.core.volatility import (
    Bar,
    CandleSeries,
    VolatilityMeasure,
    average_true_range,
    best_price,
    candle_key,
    read,
    realized_volatility,
    true_ranges,
)
from tests.builders import T0

D = Decimal
HOUR = timedelta(hours=1)
SYMBOL = "BTC/USDT:USDT"
# (open, high, low, close); true ranges after the first bar, by hand:
#   bar 1: max(103-100, |103-101|, |100-101|) = 3
#   bar 2: max(102-98, |102-102|, |98-102|) = 4
#   bar 3: max(104-99, |104-99|, |99-99|) = 5     → ATR(3) = (3 + 4 + 5) / 3 = 4
ROWS = [("100", "102", "99", "101"), ("101", "103", "100", "102"), ("102", "102", "98", "99"),
        ("99", "104", "99", "103")]  # fmt: skip


def bars(rows: list[tuple[str, str, str, str]] = ROWS, end: int = 0) -> tuple[Bar, ...]:
    """Hourly bars, the last one closing `end` hours before T0."""
    first = T0 - (len(rows) + end) * HOUR
    return tuple(
        Bar(first + i * HOUR, D(o), D(h), D(lo), D(c)) for i, (o, h, lo, c) in enumerate(rows)
    )


def series(found: tuple[Bar, ...]) -> dict[str, CandleSeries]:
    return {candle_key(SYMBOL, HOUR): CandleSeries(HOUR, found)}


def test_true_range_when_gap_beyond_the_bar_then_counts_the_previous_close() -> None:
    assert true_ranges(bars()) == [D(3), D(4), D(5)]


def test_atr_when_three_bars_then_mean_of_their_true_ranges() -> None:
    assert average_true_range(bars(), 3) == D(4)
    assert average_true_range(bars(), 2) == D("4.5")


def test_read_atr_when_fresh_candles_then_fraction_of_the_mark() -> None:
    reading = read(series(bars()), SYMBOL, HOUR, 3, VolatilityMeasure.ATR, D(100), T0)
    assert reading.value == D("0.04")
    assert "atr" in reading.reason and "(mark)" in reading.reason


def test_realized_vol_when_three_returns_then_root_of_summed_squared_logs() -> None:
    expected = math.sqrt(sum(math.log(b / a) ** 2 for a, b in [(101, 102), (102, 99), (99, 103)]))
    value = realized_volatility(bars(), 3)
    assert abs(float(value) - expected) < 1e-12
    reading = read(series(bars()), SYMBOL, HOUR, 3, VolatilityMeasure.REALIZED_VOL, D(1), T0)
    assert reading.value == value


def test_read_when_no_candles_then_no_value_and_says_so() -> None:
    reading = read({}, SYMBOL, HOUR, 3, VolatilityMeasure.ATR, D(100), T0)
    assert reading.value is None and "no candles" in reading.reason


def test_read_when_fewer_bars_than_the_window_then_no_value() -> None:
    reading = read(series(bars()), SYMBOL, HOUR, 4, VolatilityMeasure.ATR, D(100), T0)
    assert reading.value is None and "needs 5 closed bars, the venue gave 4" in reading.reason


def test_read_when_a_bar_is_missing_then_no_value() -> None:
    found = bars()
    gapped = (*found[:2], found[3])
    reading = read(series(gapped), SYMBOL, HOUR, 2, VolatilityMeasure.ATR, D(100), T0)
    assert reading.value is None and "missing" in reading.reason


def test_read_when_the_newest_closed_bar_is_old_then_no_value() -> None:
    reading = read(series(bars(end=1)), SYMBOL, HOUR, 3, VolatilityMeasure.ATR, D(100), T0)
    assert reading.value is None and "too old" in reading.reason


def test_read_when_the_last_bar_is_still_forming_then_it_is_left_out() -> None:
    forming = Bar(T0, D(103), D(200), D(50), D(150))  # opened at T0: not closed at T0 + 30m
    found = (*bars(), forming)
    at = T0 + timedelta(minutes=30)
    reading = read(series(found), SYMBOL, HOUR, 3, VolatilityMeasure.ATR, D(100), at)
    assert reading.value == D("0.04")


def test_read_when_flat_candles_then_no_unit_rather_than_a_division_by_zero() -> None:
    flat = [("100", "100", "100", "100")] * 4
    reading = read(series(bars(flat)), SYMBOL, HOUR, 3, VolatilityMeasure.ATR, D(100), T0)
    assert reading.value is None and "zero" in reading.reason


def test_best_price_when_long_then_highest_high_and_when_short_lowest_low() -> None:
    assert best_price(series(bars()), SYMBOL, HOUR, 3, True, T0) == D(104)
    assert best_price(series(bars()), SYMBOL, HOUR, 3, False, T0) == D(98)
    assert best_price(series(bars()), SYMBOL, HOUR, 5, True, T0) is None
