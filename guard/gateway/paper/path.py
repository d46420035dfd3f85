"""Price paths: PricePath (knots, linear interpolation), shifted and indexed copies (bisect lookups,
exact threshold crossings), candles turned into knots visiting the adverse extreme first, and bars back out of a path; pure."""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from guard.core.domain import Side
from guard.core.volatility import Bar
from guard.gateway.paper.data import Candle

Knots = tuple[tuple[datetime, Decimal], ...]


@dataclass(frozen=True, slots=True)
class PricePath:
    """Mark prices per symbol as knots in time, linearly interpolated between knots."""

    knots: Mapping[str, tuple[tuple[datetime, Decimal], ...]]

    def price(self, symbol: str, at: datetime) -> Decimal:
        series = self.knots[symbol]
        times = [t for t, _ in series]
        index = bisect.bisect_right(times, at)
        if index == 0:
            return series[0][1]
        if index >= len(series):
            return series[-1][1]
        (t0, p0), (t1, p1) = series[index - 1], series[index]
        weight = Decimal((at - t0).total_seconds()) / Decimal((t1 - t0).total_seconds())
        return p0 + (p1 - p0) * weight

    def times_between(self, start: datetime, end: datetime) -> list[datetime]:
        """Every knot time in (start, end], in order, across all symbols."""
        found = {t for series in self.knots.values() for t, _ in series if start < t <= end}
        return sorted(found)

    @property
    def start(self) -> datetime:
        return min(series[0][0] for series in self.knots.values())

    @property
    def end(self) -> datetime:
        return max(series[-1][0] for series in self.knots.values())


def shifted_path(path: PricePath, delta: timedelta) -> PricePath:
    """The same path moved in time by `delta` (a scenario replayed from another start)."""
    return PricePath({s: tuple((t + delta, p) for t, p in v) for s, v in path.knots.items()})


@dataclass(frozen=True, slots=True)
class IndexedPricePath(PricePath):
    """A PricePath with its knot times indexed, so a lookup costs O(log n) instead of O(n)."""

    _times: Mapping[str, tuple[datetime, ...]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )
    _all_times: tuple[datetime, ...] = field(init=False, repr=False, compare=False, default=())

    def __post_init__(self) -> None:
        for symbol, series in self.knots.items():
            if not series:
                raise ValueError(f"price path of {symbol} has no knots")
            if any(b[0] <= a[0] for a, b in itertools.pairwise(series)):
                raise ValueError(f"price path of {symbol}: knot times must strictly increase")
        times = {s: tuple(t for t, _ in series) for s, series in self.knots.items()}
        object.__setattr__(self, "_times", times)
        every = sorted({t for series in times.values() for t in series})
        object.__setattr__(self, "_all_times", tuple(every))

    @classmethod
    def of(cls, path: PricePath) -> IndexedPricePath:
        return path if isinstance(path, IndexedPricePath) else cls(path.knots)

    def price(self, symbol: str, at: datetime) -> Decimal:
        series = self.knots[symbol]
        index = bisect.bisect_right(self._times[symbol], at)
        if index == 0:
            return series[0][1]
        if index >= len(series):
            return series[-1][1]
        (t0, p0), (t1, p1) = series[index - 1], series[index]
        if at == t0:
            return p0
        weight = Decimal((at - t0).total_seconds()) / Decimal((t1 - t0).total_seconds())
        return p0 + (p1 - p0) * weight

    def times_between(self, start: datetime, end: datetime) -> list[datetime]:
        """Every knot time in (start, end], in order, across all symbols."""
        low = bisect.bisect_right(self._all_times, start)
        high = bisect.bisect_right(self._all_times, end)
        return list(self._all_times[low:high])

    @property
    def all_times(self) -> tuple[datetime, ...]:
        return self._all_times

    def first_crossing(
        self, symbol: str, start: datetime, end: datetime, level: Decimal, falling: bool
    ) -> datetime | None:
        """The first moment in (start, end] when the price reaches `level` (from above when
        `falling`, else from below), exact on the linear segments; None if it does not."""

        def reached(price: Decimal) -> bool:
            return price <= level if falling else price >= level

        previous_time, previous_price = start, self.price(symbol, start)
        if reached(previous_price):
            return start
        times = self._times[symbol]
        low = bisect.bisect_right(times, start)
        high = bisect.bisect_right(times, end)
        for moment in [*times[low:high], end]:
            price = self.price(symbol, moment)
            if reached(price):
                if price == previous_price:
                    return moment
                fraction = (level - previous_price) / (price - previous_price)
                seconds = Decimal((moment - previous_time).total_seconds()) * fraction
                crossing = previous_time + timedelta(microseconds=int(seconds * 1_000_000) + 1)
                return min(max(crossing, previous_time), moment)
            previous_time, previous_price = moment, price
        return None


def bar_knots(candles: Sequence[Candle], adverse_low_first: bool) -> Knots:
    """Knots of a candle series: open at the bar's start, then the adverse extreme, the other
    extreme and the close at quarters of the bar; the next bar's open follows (gaps kept).

    `adverse_low_first` is True for a net long (open→low→high→close), False for a net short
    (open→high→low→close). The bar length is the smallest spacing between candles.
    """
    if not candles:
        raise ValueError("no candles")
    if len(candles) > 1:
        step = min(b.at - a.at for a, b in itertools.pairwise(candles))
    else:
        step = timedelta(minutes=1)
    quarter = step / 4
    knots: list[tuple[datetime, Decimal]] = []
    for candle in candles:
        first, second = (
            (candle.low, candle.high) if adverse_low_first else (candle.high, candle.low)
        )
        knots.extend(
            (
                (candle.at, candle.open),
                (candle.at + quarter, first),
                (candle.at + 2 * quarter, second),
                (candle.at + 3 * quarter, candle.close),
            )
        )
    return tuple(knots)


def adverse_low_first(net_side: Side | None) -> bool:
    """A net long (or no position) fears the low first; a net short fears the high first."""
    return net_side is not Side.SHORT


def candles_path(
    candles: Mapping[str, Sequence[Candle]], net_sides: Mapping[str, Side | None]
) -> IndexedPricePath:
    """One indexed path over every symbol's candles, each with its own adverse-first order."""
    return IndexedPricePath(
        {
            symbol: bar_knots(series, adverse_low_first(net_sides.get(symbol)))
            for symbol, series in candles.items()
        }
    )


def path_bars(
    path: PricePath, symbol: str, timeframe: timedelta, end: datetime, count: int
) -> tuple[Bar, ...]:
    """The last `count` bars of `symbol`'s path up to `end` (bars aligned to the epoch, the one
    still forming cut at `end`): open/close at the bar's edges, high/low over the knots inside.
    Bars that would start before the path does are left out (no history is invented)."""
    series = path.knots[symbol]
    first = series[0][0]
    epoch = datetime(1970, 1, 1, tzinfo=end.tzinfo)
    start = epoch + timeframe * ((end - epoch) // timeframe)
    if start == end:  # a bar that has not begun to form yet
        start -= timeframe
    bars: list[Bar] = []
    while len(bars) < count and start >= first:
        close_at = min(start + timeframe, end)
        inside = [p for t, p in series if start < t < close_at]
        opened, closed = path.price(symbol, start), path.price(symbol, close_at)
        prices = [opened, closed, *inside]
        bars.append(Bar(start, opened, max(prices), min(prices), closed))
        start -= timeframe
    return tuple(reversed(bars))
