"""The exit ladder through the engine: bands fire once per episode, fractions are of the size at
episode start, the episode re-arms past the re-arm level."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from guard.core.domain import GuardState
from guard.core.engine import evaluate
from guard.core.policy.schema import PolicyFile, PolicySet
from guard.core.venues.paper import RULES
from tests.builders import T0, D, position, snapshot

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
                            "bands": [
                                {"trigger": "12%", "reduce": "25%"},
                                {"trigger": "8%", "reduce": "25%"},
                            ],
                            "rearm": "20%",
                        }
                    ],
                }
            ),
        )
    ]
)


def tick(mark: str, quantity: str, state: GuardState, minute: int) -> tuple[Decimal, GuardState]:
    # wallet 6000 on 1 BTC: liquidation near 54,221, so the distance is (mark - 54221)/mark
    snap = snapshot(
        [position(quantity=quantity, mark=mark)], wallet="6000", at=T0 + timedelta(minutes=minute)
    )
    decision = evaluate(snap, POLICY, state, RULES)
    reduced = sum((r.quantity for r in decision.reductions), Decimal(0))
    return reduced, decision.next_state


def test_ladder_when_metric_worsens_recovers_and_worsens_again_then_each_band_once_per_episode() -> (
    None
):
    state = GuardState()
    reduced, state = tick("61000", "1", state, 0)  # distance 11.1 %: band 1
    assert reduced == D("0.25")
    reduced, state = tick("60900", "0.75", state, 1)  # still in band 1: nothing new
    assert reduced == 0
    # smaller position, same wallet: liquidation moves away; the band must still not refire
    reduced, state = tick("61000", "0.75", state, 2)
    assert reduced == 0
    assert state.episodes["ladder|BTC/USDT:USDT|long"].fired_bands == frozenset({0})
    reduced, state = tick("90000", "0.75", state, 3)  # far away: episode ends (re-armed)
    assert reduced == 0 and state.episodes == {}
    # 0.75 BTC on 6000: liquidation near 52,209, so at 56,000 the distance is 6.8 %
    reduced, state = tick("56000", "0.75", state, 4)  # new episode, bands 1 and 2 at once
    assert reduced > 0
    episode = state.episodes["ladder|BTC/USDT:USDT|long"]
    assert episode.number == 2 and episode.start_quantity == D("0.75")
    assert reduced == D("0.375")  # (25 % + 25 %) of the episode-start size 0.75
