"""Engine: the liquidation_progress ladder (remembered starting distance), confirmation ticks,
at_start warnings and alert_only rules (alerts, never orders)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from guard.core.domain import PositionKey, Side
from tests.builders import T0, position, snapshot
from tests.core.engine.helpers import reduced, run

D = Decimal
BTC = PositionKey("BTC/USDT:USDT", Side.LONG)
ROOM = "rule-0|BTC/USDT:USDT|long|room"

# 3.333 BTC long at 60000 on a 10,000 wallet (20x): liquidation near 57271, a 4.55 % room;
# 35 % of it is used up at about 59045, 50 % at about 58636.
PROGRESS = {
    "kind": "exit_ladder",
    "metric": "liquidation_progress",
    "bands": [{"trigger": "35%", "reduce": "25%"}, {"trigger": "50%", "reduce": "100%"}],
    "rearm": "20%",
}


def at(mark: str, quantity: str = "3.333", minute: int = 0) -> Any:
    return snapshot(
        [position(quantity=quantity, entry="60000", mark=mark, leverage="20")],
        wallet="10000",
        at=T0 + timedelta(minutes=minute),
    )


def test_progress_ladder_when_20x_position_at_entry_then_no_order_unlike_distance_ladder() -> None:
    distance = {
        "kind": "exit_ladder",
        "metric": "liquidation_distance",
        "bands": [{"trigger": "12%", "reduce": "25%"}],
        "rearm": "20%",
    }
    assert reduced(run(at("60000"), PROGRESS)) == {}
    assert reduced(run(at("60000"), distance)) != {}  # the old default cut 20x at entry


def test_progress_ladder_when_first_band_reached_then_reduces_and_remembers_the_room() -> None:
    decision = run(at("59000"), PROGRESS)
    assert reduced(decision) == {BTC: D("0.83325")}
    assert int(decision.next_state.counters[ROOM]) == 45482437  # 4.548 % in parts per billion


def test_progress_ladder_when_position_shrank_then_later_band_keeps_the_starting_room() -> None:
    first = run(at("60000"), PROGRESS)
    # after a reduction the liquidation price moves away (2.5 BTC: ~56261); the remembered room
    # still puts 58600 past 50 % of the starting distance, a fresh look would not (~37 %)
    remembered = run(at("58600", "2.5", 1), PROGRESS, state=first.next_state)
    fresh = run(at("58600", "2.5", 1), PROGRESS)
    assert reduced(remembered) == {BTC: D("2.5")}
    assert reduced(fresh) == {BTC: D("0.625")}


def test_progress_ladder_when_position_closes_then_its_room_is_forgotten() -> None:
    first = run(at("60000"), PROGRESS)
    gone = run(
        snapshot([], wallet="10000", at=T0 + timedelta(minutes=1)), PROGRESS, state=first.next_state
    )
    assert ROOM in first.next_state.counters and ROOM not in gone.next_state.counters


def test_ladder_when_confirm_ticks_two_then_orders_only_when_breach_holds() -> None:
    rule = {**PROGRESS, "confirm_ticks": 2}
    one = run(at("59000"), rule)
    assert reduced(one) == {} and "held 1 of 2" in one.findings[0].reason
    recovered = run(at("59900", minute=1), rule, state=one.next_state)
    again = run(at("59000", minute=2), rule, state=recovered.next_state)
    assert reduced(recovered) == {} and reduced(again) == {}  # the wick did not hold
    held = run(at("59000", minute=3), rule, state=again.next_state)
    assert reduced(held) == {BTC: D("0.83325")}


def test_ladder_when_position_starts_inside_band_and_at_start_warn_then_alert_no_order() -> None:
    rule = {**PROGRESS, "at_start": "warn"}
    first = run(at("59000"), rule)
    assert reduced(first) == {}
    assert [a.kind for a in first.alerts] == ["startup_band"]
    deeper = run(at("58600", minute=1), rule, state=first.next_state)
    assert reduced(deeper) == {BTC: D("3.333")}  # a band crossed after start still acts
    acting = run(at("59000"), {**PROGRESS, "at_start": "act"})
    assert reduced(acting) == {BTC: D("0.83325")}


def test_rule_when_alert_only_then_alert_once_per_episode_and_never_an_order() -> None:
    rule = {**PROGRESS, "alert_only": True}
    first = run(at("59000"), rule)
    assert reduced(first) == {} and [a.kind for a in first.alerts] == ["rule_alert"]
    assert "alert only: no order" in first.alerts[0].message
    second = run(at("59000", minute=1), rule, state=first.next_state)
    assert second.alerts == () and reduced(second) == {}


def test_level_rule_when_alert_only_then_no_reduction() -> None:
    cap = {"kind": "leverage_cap", "account": "5x", "alert_only": True}
    decision = run(at("60000"), cap)
    assert reduced(decision) == {} and decision.alerts
    assert reduced(run(at("60000"), {**cap, "alert_only": False})) != {}
