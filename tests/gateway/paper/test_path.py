"""Price paths: the indexed path agrees with PricePath, candles visit the adverse extreme first,
threshold crossings are exact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from guard.core.domain import Side
from guard.gateway.paper.data import Candle
from guard.gateway.paper.path import IndexedPricePath, PricePath, adverse_low_first, bar_knots

T0 = datetime(2024, 8, 5, tzinfo=UTC)


def candle(minute: int, o: str, h: str, low: str, c: str) -> Candle:
    return Candle(
        T0 + timedelta(minutes=5 * minute),
        Decimal(o),
        Decimal(h),
        Decimal(low),
        Decimal(c),
        Decimal(1),
    )


def test_bar_knots_when_net_long_then_low_comes_before_high() -> None:
    knots = bar_knots([candle(0, "100", "104", "95", "101")], adverse_low_first(Side.LONG))
    assert [p for _, p in knots] == [Decimal(100), Decimal(95), Decimal(104), Decimal(101)]
    assert [t - T0 for t, _ in knots][1] == timedelta(seconds=15)  # a quarter of a 1m default bar


def test_bar_knots_when_net_short_then_high_comes_before_low() -> None:
    candles = [candle(0, "100", "104", "95", "101"), candle(1, "101", "103", "99", "102")]
    knots = bar_knots(candles, adverse_low_first(Side.SHORT))
    assert [p for _, p in knots][:4] == [Decimal(100), Decimal(104), Decimal(95), Decimal(101)]
    assert knots[4][0] == T0 + timedelta(minutes=5)  # the next bar opens at its own time
    assert knots[1][0] == T0 + timedelta(seconds=75)  # quarter of the 5-minute spacing


def test_adverse_low_first_when_flat_then_low_first() -> None:
    assert adverse_low_first(None) is True


prices = st.decimals(min_value=1, max_value=100000, places=2)


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(prices, min_size=2, max_size=12),
    probe=st.integers(min_value=-30, max_value=800),
)
def test_indexed_price_when_probed_anywhere_then_equals_plain_price_path(
    values: list[Decimal], probe: int
) -> None:
    knots = {"X": tuple((T0 + timedelta(minutes=i), v) for i, v in enumerate(values))}
    moment = T0 + timedelta(seconds=probe)
    plain, indexed = PricePath(knots), IndexedPricePath(knots)
    assert indexed.price("X", moment) == plain.price("X", moment)
    end = moment + timedelta(minutes=3)
    assert indexed.times_between(moment, end) == plain.times_between(moment, end)


@settings(max_examples=40, deadline=None)
@given(values=st.lists(prices, min_size=2, max_size=10), level=prices)
def test_first_crossing_when_found_then_price_has_reached_level_and_not_before(
    values: list[Decimal], level: Decimal
) -> None:
    path = IndexedPricePath(
        {"X": tuple((T0 + timedelta(minutes=i), v) for i, v in enumerate(values))}
    )
    end = T0 + timedelta(minutes=len(values) - 1)
    crossing = path.first_crossing("X", T0, end, level, falling=True)
    if crossing is None:
        assert min(values) > level
        return
    assert path.price("X", crossing) <= level + Decimal("0.01")
    earlier = crossing - timedelta(milliseconds=5)
    if earlier > T0:
        assert path.price("X", earlier) > level
