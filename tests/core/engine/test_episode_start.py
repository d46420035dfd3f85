"""Engine: ladder episodes that do not re-fire on a partial recovery (`rearm_after`) and the
`equity_loss_pct` metric (equity below where it started, gains never counted)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from guard.core.domain import GuardState, PositionKey, Side
from guard.core.policy.describe import describe
from tests.builders import T0, position, snapshot
from tests.core.engine.helpers import policies, reduced, run

D = Decimal
BTC = PositionKey("BTC/USDT:USDT", Side.LONG)

# 2 BTC long at 60000 on a 10,000 wallet (12x): liquidation near 55,300, a room of about 7.8 %;
# 30 % of it is used up near 58,590, 15 % (the re-arm level) near 59,300.
STEP = {
    "kind": "exit_ladder",
    "metric": "liquidation_progress",
    "bands": [{"trigger": "30%", "reduce": "50%"}],
    "rearm": "15%",
}


def at(mark: str, quantity: str, minute: int) -> Any:
    return snapshot(
        [position(quantity=quantity, entry="60000", mark=mark, leverage="12")],
        wallet="10000",
        at=T0 + timedelta(minutes=minute),
    )


def walk(rule: dict[str, Any], path: list[tuple[int, str]]) -> list[Decimal]:
    """The quantity reduced at each (minute, mark), the position shrinking by what was sold."""
    state, quantity, sold = GuardState(), D(2), []
    for minute, mark in path:
        decision = run(at(mark, str(quantity), minute), rule, state=state)
        step = reduced(decision).get(BTC, D(0))
        sold.append(step)
        quantity -= step
        state = decision.next_state
    return sold


# a dip into the step, a partial recovery past the re-arm level for 10 minutes, the same dip again
DIP_TWICE = [(0, "60000"), (1, "58400"), (11, "59800"), (21, "58400")]


def test_ladder_when_recovery_turns_back_within_rearm_after_then_step_does_not_fire_again() -> None:
    sold = walk({**STEP, "rearm_after": "1h"}, DIP_TWICE)
    assert sold == [0, D(1), 0, 0]  # half of 2 BTC once; the second dip is the same episode


def test_ladder_when_no_rearm_after_and_recovery_turns_back_then_new_episode_sells_again() -> None:
    sold = walk(STEP, DIP_TWICE)
    assert sold == [0, D(1), 0, D("0.5")]  # the behaviour rearm_after exists to stop


def test_ladder_when_recovery_holds_for_rearm_after_then_episode_ends_and_step_fires_again() -> (
    None
):
    path = [*DIP_TWICE, (30, "59800"), (89, "59800"), (95, "59800"), (96, "58400")]
    sold = walk({**STEP, "rearm_after": "1h"}, path)
    # past the re-arm level from minute 30: still settling at 89, the episode ends at 95 (65 min)
    assert sold == [0, D(1), 0, 0, 0, 0, 0, D("0.5")]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=57000, max_value=61000), min_size=2, max_size=25))
def test_ladder_when_any_path_within_rearm_after_then_sells_at_most_its_steps(
    marks: list[int],
) -> None:
    rule = {
        **STEP,
        "bands": [{"trigger": "30%", "reduce": "25%"}, {"trigger": "45%", "reduce": "25%"}],
        "rearm_after": "7d",
    }
    sold = walk(rule, [(minute, str(mark)) for minute, mark in enumerate(marks)])
    assert sum(sold) <= D(1)  # 25 % + 25 % of the 2 BTC the episode began with


# 1 BTC long at 60000 (10x) on a 10,000 wallet: equity = 10,000 + (mark − 60000)
LOSS = {
    "kind": "exit_ladder",
    "metric": "equity_loss_pct",
    "bands": [{"trigger": "30%", "reduce": "25%"}],
    "rearm": "10%",
}
RALLY_THEN_PULLBACK = [(0, "60000"), (1, "66000"), (2, "61000")]  # equity 10,000 → 16,000 → 11,000


def one_btc(rule: dict[str, Any], path: list[tuple[int, str]]) -> list[Decimal]:
    state, sold = GuardState(), []
    for minute, mark in path:
        snap = snapshot(
            [position(quantity="1", entry="60000", mark=mark)],
            wallet="10000",
            at=T0 + timedelta(minutes=minute),
        )
        decision = run(snap, rule, state=state)
        sold.append(reduced(decision).get(BTC, D(0)))
        state = decision.next_state
    return sold


def test_equity_loss_when_winner_gives_back_gains_then_no_order_unlike_drawdown_pct() -> None:
    assert one_btc(LOSS, RALLY_THEN_PULLBACK) == [0, 0, 0]
    # the same ladder on drawdown_pct (from the running peak) sells the pullback: 31 % off 16,000
    assert one_btc({**LOSS, "metric": "drawdown_pct"}, RALLY_THEN_PULLBACK)[2] == D("0.25")


def test_equity_loss_when_equity_falls_below_its_start_by_trigger_then_band_fires() -> None:
    sold = one_btc(LOSS, [*RALLY_THEN_PULLBACK, (3, "57500"), (4, "56900")])
    assert sold == [0, 0, 0, 0, D("0.25")]  # 25 % then 31 % below the 10,000 it started with


def test_memory_when_position_closes_then_start_equity_and_rearm_clock_forgotten() -> None:
    rule = {**LOSS, "rearm_after": "1h"}
    state = GuardState()
    for minute, mark in [(0, "60000"), (1, "56900"), (2, "59500")]:  # fire, then settling
        snap = snapshot(
            [position(quantity="1", entry="60000", mark=mark)],
            wallet="10000",
            at=T0 + timedelta(minutes=minute),
        )
        state = run(snap, rule, state=state).next_state
    kept = {name.rsplit("|", 1)[1] for name in state.counters}
    assert {"equity", "calm"} <= kept
    closed = run(snapshot([], wallet="9000", at=T0 + timedelta(minutes=3)), rule, state=state)
    assert not any(name.endswith(("|equity", "|calm")) for name in closed.next_state.counters)


def test_describe_when_ladder_has_rearm_after_then_says_how_long_it_must_stay_recovered() -> None:
    [rule] = policies({**STEP, "rearm_after": "1h"}).rules
    assert "recovers past 15% and stays there for 1h" in describe(rule)
    [plain] = policies(STEP).rules
    assert "stays there" not in describe(plain)
