"""The tick feeds volatility rules with candles fetched once per venue, market and closed bar and
shared by every account; without enough history the rule holds and says so (paper venue)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from guard.core.policy.loading import policy_set
from guard.core.volatility import CandleSeries
from guard.gateway.candles import CandleCache
from guard.gateway.paper.scenarios import crash
from guard.service import AccountRuntime, GuardService
from guard.service.candle_feed import candles_for
from guard.store import Store
from tests.service.helpers import rails

POLICY = """
version: 1
rules:
  - id: atr-ladder
    kind: exit_ladder
    metric: liquidation_distance
    units: volatility
    volatility: {measure: atr, timeframe: 5m, bars: 3}
    bands:
      - {trigger: "3 atr", reduce: "50%"}
    rearm: "4 atr"
"""


async def test_tick_when_two_accounts_share_a_venue_then_one_candle_fetch_per_closed_bar(
    sqlite_store: Store, tmp_path: Path
) -> None:
    venue = crash().venue(("a", "b"))
    policies = policy_set([("atr.yaml", POLICY)])
    service = GuardService(
        store=sqlite_store,
        accounts={
            name: AccountRuntime(name, venue.rules, venue, policies, clock=lambda: venue.now)
            for name in ("a", "b")
        },
        clock=lambda: venue.now,
        rails=rails(),
    )
    asked: list[tuple[str, int]] = []  # (symbol, 5-minute bar) of every venue candle request
    fetch = venue.fetch_mark_candles

    async def recording(symbol: str, timeframe: timedelta, bars: int) -> CandleSeries:
        asked.append((symbol, (venue.now - venue.path.start) // timeframe))
        return await fetch(symbol, timeframe, bars)

    venue.fetch_mark_candles = recording  # type: ignore[method-assign]
    first = await service.tick("a")
    assert first.decision is not None and not first.decision.reductions
    held = [f.reason for f in first.decision.findings if "cannot evaluate" in f.reason]
    assert len(held) == 3 and "needs 4 closed bars, the venue gave 0" in held[0]
    fired = []
    for _ in range(150):  # 150 minutes: through the cascade
        venue.advance_to(venue.now + timedelta(minutes=1))
        for name in ("a", "b"):
            report = await service.tick(name)
            assert report.error is None
            if report.decision is not None and report.decision.reductions:
                fired.append((name, venue.now))
    # at most one request per market and 5-minute bar, for 301 ticks of two accounts
    assert len(asked) == len(set(asked)) == service.candles.fetches
    assert 31 <= len(asked) <= 3 * 31
    assert {name for name, _ in fired} == {"a", "b"}  # both acted, on shared candles
    assert min(at for _, at in fired) >= venue.path.start + timedelta(minutes=20)


class SlowCandles:
    """A venue whose candle endpoint answers after `delay` seconds (or fails unexpectedly)."""

    venue = "slow"

    def __init__(self, delay: float, error: Exception | None = None) -> None:
        self.delay, self.error, self.calls = delay, error, 0

    async def fetch_mark_candles(
        self, symbol: str, timeframe: timedelta, bars: int
    ) -> CandleSeries:
        self.calls += 1
        await asyncio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        return CandleSeries(timeframe, (), True, "slow")


async def test_candles_for_when_the_venue_is_slow_then_the_tick_goes_on_and_the_cache_fills() -> (
    None
):
    snap = crash().venue(("a",)).snapshot("a")
    policies = policy_set([("atr.yaml", POLICY)])
    cache, slow = CandleCache(), SlowCandles(0.2)
    first = await candles_for(cache, slow, policies, snap, snap.taken_at, timedelta(seconds=0.01))
    assert first == {}  # not waited for: the volatility rules hold this tick, the others act
    await asyncio.sleep(0.3)  # the fetches went on in the background
    later = await candles_for(cache, slow, policies, snap, snap.taken_at, timedelta(seconds=0.01))
    assert len(later) == 3 and slow.calls == 3  # filled by the first tick's fetches


async def test_candles_for_when_the_fetch_raises_unexpectedly_then_no_candles_not_a_failed_tick() -> (
    None
):
    snap = crash().venue(("a",)).snapshot("a")
    policies = policy_set([("atr.yaml", POLICY)])
    broken = SlowCandles(0, RuntimeError("parser bug"))
    assert await candles_for(CandleCache(), broken, policies, snap, snap.taken_at) == {}
