"""A lock on one market holds back only that market: the account's other positions stay
protected, and the held market's ladder step fires once the lock is cleared."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from guard.core.domain import OrderStatus, Side
from guard.core.policy.schema import PolicyFile, PolicySet
from guard.core.venues.paper import RULES
from guard.gateway.paper.book import SlippageModel
from guard.gateway.paper.path import PricePath
from guard.gateway.paper.venue import PaperVenue
from guard.service import AccountRuntime, GuardService
from guard.store import Store
from tests.builders import T0, D, spec

BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"
POLICY = PolicySet.of(
    [
        (
            "inline",
            PolicyFile.model_validate(
                {
                    "version": 1,
                    "rules": [
                        {
                            "id": "ladder",
                            "kind": "exit_ladder",
                            "metric": "liquidation_distance",
                            "bands": [{"trigger": "50%", "reduce": "25%"}],
                            "rearm": "60%",
                        }
                    ],
                }
            ),
        )
    ]
)


async def test_tick_when_one_market_locked_then_other_market_acts_and_locked_step_fires_after_unlock(
    tmp_path: Path,
) -> None:
    flat = {
        s: tuple((T0 + timedelta(minutes=m), D(p)) for m in range(30))
        for s, p in ((BTC, 60000), (ETH, 3000))
    }
    venue = PaperVenue(
        {BTC: spec(BTC), ETH: spec(ETH, step="0.01")},
        PricePath(flat),
        slippage=SlippageModel(D(0), D(0)),
    )
    venue.open_account("a", D(20000))
    venue.seed_position("a", BTC, Side.LONG, D(1), D(60000), D(10))
    venue.seed_position("a", ETH, Side.LONG, D(20), D(3000), D(10))
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    store.create_schema()
    service = GuardService(
        store, {"a": AccountRuntime("a", RULES, venue, POLICY)}, lambda: venue.now
    )
    lock = store.set_lock(
        reason="managing BTC by hand", actor="alice", at=venue.now, account="a", market=BTC
    )

    await service.tick("a")
    filled = {f.symbol for f in venue.accounts["a"].fills}
    assert filled == {ETH}
    suppressed = [i for i in store.intents("a") if i.status is OrderStatus.SUPPRESSED]
    assert [i.symbol for i in suppressed] == [BTC]
    assert f"#{lock.id}" in suppressed[0].message

    venue.advance_to(venue.now + timedelta(minutes=1))
    await service.tick("a")  # still locked: nothing new on either market
    assert len(venue.accounts["a"].fills) == 1

    store.clear_lock(lock.id, actor="alice", at=venue.now)
    venue.advance_to(venue.now + timedelta(minutes=1))
    await service.tick("a")
    assert sorted(f.symbol for f in venue.accounts["a"].fills) == [BTC, ETH]
    btc = next(f for f in venue.accounts["a"].fills if f.symbol == BTC)
    assert btc.quantity == D("0.25")  # the held band, 25 % of the episode-start size, once
    venue.advance_to(venue.now + timedelta(minutes=1))
    await service.tick("a")
    assert len(venue.accounts["a"].fills) == 2
