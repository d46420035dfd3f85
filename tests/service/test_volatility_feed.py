"""The tick feeds volatility rules with candles fetched once per venue, market and closed bar and
shared by every account; without enough history the rule holds and says so (paper venue)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from guard.core.policy.loading import policy_set
from guard.core.volatility import CandleSeries
from guard.gateway.paper.scenarios import crash
from guard.service import AccountRuntime, GuardService
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
