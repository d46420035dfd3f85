"""Candles of the paper venue's path (bars rebuilt from the knots, no history invented before the
path) and the CandleCache: one fetch per gateway, market and timeframe per closed bar."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

from guard.core.volatility import Bar, CandleSeries
from guard.gateway.base import TemporaryError
from guard.gateway.candles import CandleCache
from guard.gateway.dryrun import DryRunGateway
from guard.gateway.paper.path import PricePath, path_bars
from guard.gateway.paper.scenarios import crash
from tests.builders import T0

D = Decimal
HOUR = timedelta(hours=1)
PATH = PricePath(
    {
        "X": (
            (T0, D(100)),
            (T0 + timedelta(minutes=30), D(110)),
            (T0 + timedelta(minutes=90), D(90)),
            (T0 + 2 * HOUR, D(100)),
        )
    }
)


def test_path_bars_when_knots_inside_bars_then_high_low_from_the_knots() -> None:
    # bar 1: open 100, knot 110 inside, close at T0+1h halfway from 110 to 90 = 100
    # bar 2: open 100, knot 90 inside, close 100
    assert path_bars(PATH, "X", HOUR, T0 + 2 * HOUR, 5) == (
        Bar(T0, D(100), D(110), D(100), D(100)),
        Bar(T0 + HOUR, D(100), D(100), D(90), D(100)),
    )  # only two: the path starts at T0, earlier bars are not invented


def test_path_bars_when_bar_still_forming_then_cut_at_now() -> None:
    now = T0 + timedelta(minutes=75)  # 75 min: the forming bar runs 60→75 min, 100 → 95
    *_, forming = path_bars(PATH, "X", HOUR, now, 2)
    assert forming == Bar(T0 + HOUR, D(100), D(100), D(95), D(95))


class Counting:
    venue = "lab"

    def __init__(self, fail: bool = False) -> None:
        self.calls = 0
        self.fail = fail

    async def fetch_mark_candles(
        self, symbol: str, timeframe: timedelta, bars: int
    ) -> CandleSeries:
        self.calls += 1
        await asyncio.sleep(0)
        if self.fail:
            raise TemporaryError("lab: 503")
        return CandleSeries(timeframe, (), True, "lab")


async def test_cache_when_many_accounts_ask_in_one_bar_then_one_fetch() -> None:
    cache, gateway = CandleCache(), Counting()
    got = await asyncio.gather(*(cache.get(gateway, "X", HOUR, 14, T0) for _ in range(5)))
    await cache.get(gateway, "X", HOUR, 14, T0 + timedelta(minutes=59))
    assert gateway.calls == 1 and all(problem == "" for _, problem in got)
    await cache.get(gateway, "X", HOUR, 14, T0 + HOUR)  # a bar closed: fetch again
    await cache.get(gateway, "X", HOUR, 30, T0 + HOUR)  # a longer window: fetch again
    await cache.get(gateway, "Y", HOUR, 14, T0 + HOUR)  # another market
    assert gateway.calls == 4 and cache.fetches == 4


async def test_cache_when_dry_run_wrappers_share_a_venue_then_one_fetch_through_the_inner() -> None:
    cache, gateway = CandleCache(), Counting()
    for wrapper in (DryRunGateway(gateway), DryRunGateway(gateway)):  # type: ignore[arg-type]
        series, problem = await cache.get(wrapper, "X", HOUR, 14, T0)
        assert series is not None and problem == ""
    assert gateway.calls == 1


async def test_cache_when_fetch_fails_then_keeps_last_series_says_why_and_retries() -> None:
    cache, gateway = CandleCache(), Counting()
    first, _ = await cache.get(gateway, "X", HOUR, 14, T0)
    gateway.fail = True
    kept, problem = await cache.get(gateway, "X", HOUR, 14, T0 + HOUR)
    assert kept is first and "lab: candles of X: lab: 503" in problem
    await cache.get(gateway, "X", HOUR, 14, T0 + HOUR)
    assert gateway.calls == 3  # the failed fetch is retried on the next ask


async def test_cache_when_gateway_has_no_candles_then_none_and_a_reason() -> None:
    series, problem = await CandleCache().get(object(), "X", HOUR, 14, T0)
    assert series is None and "offers no candles" in problem


async def test_paper_venue_when_asked_for_candles_then_bars_of_its_path_up_to_now() -> None:
    venue = crash().venue(("a",))
    venue.advance_to(venue.now + timedelta(minutes=32))
    series = await venue.fetch_mark_candles("BTC/USDT:USDT", timedelta(minutes=5), 20)
    assert series.mark and len(series.bars) == 7  # 6 closed 5-minute bars and the forming one
    assert series.bars[-1].close == venue.path.price("BTC/USDT:USDT", venue.now)
