"""Engine: exit ladders (episodes, hysteresis, start-size fractions), merging, in-flight, staleness."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from guard.core.domain import GuardState, MarginMode, PositionKey, Side, frozen_map
from tests.builders import T0, position, snapshot
from tests.core.engine.helpers import reduced, run

D = Decimal
BTC = PositionKey("BTC/USDT:USDT", Side.LONG)

# liquidation distance of a 1 BTC long entered at 60000, wallet 6000, 10x: liquidation near 54217
LADDER = {
    "kind": "exit_ladder",
    "metric": "mark_price",
    "direction": "below",
    "bands": [
        {"trigger": "58000", "reduce": "25%"},
        {"trigger": "56000", "reduce": "25%"},
        {"trigger": "54000", "reduce": "50%"},
    ],
    "rearm": "59000",
}


def at_mark(mark: str, quantity: str = "4", minute: int = 0) -> Any:
    return snapshot(
        [position(quantity=quantity, entry="60000", mark=mark)],
        wallet="100000",
        at=T0 + timedelta(minutes=minute),
    )


def walk(marks: list[tuple[str, str]], rule: dict[str, Any] = LADDER) -> list[Any]:
    state = GuardState()
    decisions = []
    for minute, (mark, quantity) in enumerate(marks):
        decision = run(at_mark(mark, quantity, minute), rule, state=state)
        state = decision.next_state
        decisions.append(decision)
    return decisions


def test_ladder_when_band_reached_then_fraction_of_episode_start_size() -> None:
    # start size 4; band 1 fires at 57900 (1 BTC); position now 3; band 2: 25 % of 4 = 1 again
    decisions = walk([("57900", "4"), ("55900", "3")])
    assert [reduced(d) for d in decisions] == [{BTC: D(1)}, {BTC: D(1)}]
    assert "episode-start size 4" in decisions[1].reductions[0].reasons[0]


def test_ladder_when_gap_through_bands_then_fires_all_at_once() -> None:
    (decision,) = walk([("53000", "4")])
    assert reduced(decision) == {BTC: D(4)}
    assert decision.reductions[0].steps == (f"{LADDER_ID}|BTC/USDT:USDT|long|e1|b1+2+3",)


LADDER_ID = "rule-0"


def test_ladder_when_metric_stays_in_band_then_band_not_fired_twice() -> None:
    decisions = walk([("57900", "4"), ("57500", "3"), ("57900", "3"), ("58500", "3")])
    assert [reduced(d) for d in decisions] == [{BTC: D(1)}, {}, {}, {}]


def test_ladder_when_recovered_past_rearm_then_new_episode_with_new_start_size() -> None:
    decisions = walk([("57900", "4"), ("59500", "3"), ("57900", "3")])
    assert [reduced(d) for d in decisions] == [{BTC: D(1)}, {}, {BTC: D("0.75")}]
    assert decisions[2].reductions[0].steps[0].endswith("|e2|b1")


def test_ladder_when_between_band_and_rearm_then_episode_kept() -> None:
    decisions = walk([("57900", "4"), ("58500", "3"), ("57900", "3")])
    assert [reduced(d) for d in decisions] == [{BTC: D(1)}, {}, {}]


def test_ladder_when_liquidation_distance_metric_then_fires_near_liquidation() -> None:
    rule = {
        "kind": "exit_ladder",
        "metric": "liquidation_distance",
        "bands": [{"trigger": "10%", "reduce": "50%"}],
        "rearm": "15%",
    }
    far = snapshot([position(quantity="1", entry="60000")], wallet="30000")
    near = snapshot([position(quantity="1", entry="60000", mark="57000")], wallet="8000")
    assert reduced(run(far, rule)) == {}
    assert reduced(run(near, rule)) == {BTC: D("0.5")}


@pytest.mark.parametrize(
    ("metric", "trigger", "mark", "wallet", "fires"),
    [
        ("margin_ratio", "50%", "57000", "3400", True),  # mm 235 / equity 400
        ("margin_ratio", "50%", "60000", "30000", False),
        ("unrealized_loss_pct", "4%", "57000", "30000", True),  # 5 % loss
        ("unrealized_loss_pct", "6%", "57000", "30000", False),
    ],
)
def test_ladder_when_metric_table_then_fires_as_expected(
    metric: str, trigger: str, mark: str, wallet: str, fires: bool
) -> None:
    rule = {
        "kind": "exit_ladder",
        "metric": metric,
        "bands": [{"trigger": trigger, "reduce": "50%"}],
        "rearm": "1%",
    }
    snap = snapshot([position(quantity="1", entry="60000", mark=mark)], wallet=wallet)
    assert reduced(run(snap, rule)) == ({BTC: D("0.5")} if fires else {})


def test_ladder_when_drawdown_metric_then_uses_account_peak() -> None:
    rule = {
        "kind": "exit_ladder",
        "metric": "drawdown_pct",
        "bands": [{"trigger": "10%", "reduce": "50%"}],
        "rearm": "5%",
    }
    first = run(snapshot([position(quantity="1", entry="60000")], wallet="10000"), rule)
    down = snapshot(
        [position(quantity="1", entry="60000", mark="58500")],
        wallet="10000",
        at=T0 + timedelta(minutes=1),
    )
    assert reduced(run(down, rule, state=first.next_state)) == {BTC: D("0.5")}


def test_merge_when_two_rules_ask_then_largest_wins_and_every_reason_kept() -> None:
    snap = snapshot([position(quantity="1", entry="60000", leverage="20")], wallet="5000")
    decision = run(
        snap,
        {"kind": "leverage_cap", "account": "10x", "id": "a-lev"},
        {"kind": "exposure_cap", "limit": "30000", "id": "b-exp"},
    )
    (reduction,) = decision.reductions
    assert reduction.quantity == D("0.5")
    assert reduction.rule_ids == ("a-lev", "b-exp")
    assert len(reduction.reasons) == 2


def test_merge_when_request_above_position_then_capped_at_size() -> None:
    decision = run(at_mark("53000", "4"), LADDER, {"kind": "exposure_cap", "limit": "1"})
    assert reduced(decision) == {BTC: D(4)}


def test_evaluate_when_level_reduction_in_flight_then_not_requested_again() -> None:
    snap = snapshot([position(quantity="1", entry="60000", leverage="20")], wallet="3000")
    rule = {"kind": "leverage_cap", "account": "10x"}
    assert reduced(run(snap, rule)) == {BTC: D("0.5")}
    pending = GuardState(in_flight=frozen_map({BTC: D("0.5")}))
    assert reduced(run(snap, rule, state=pending)) == {}
    partly = GuardState(in_flight=frozen_map({BTC: D("0.2")}))
    assert reduced(run(snap, rule, state=partly)) == {BTC: D("0.3")}


def test_evaluate_when_stale_snapshot_then_alert_and_no_reduction() -> None:
    snap = at_mark("53000")
    decision = run(
        snap, LADDER, {"kind": "stale_data", "max_age": "1m"}, at=T0 + timedelta(minutes=5)
    )
    assert decision.reductions == ()
    assert any(a.kind == "stale_data" for a in decision.alerts)


def test_evaluate_when_venue_liquidation_price_diverges_then_alert() -> None:
    far = replace(position(quantity="1", entry="60000"), venue_liquidation_price=D("59000"))
    decision = run(snapshot([far], wallet="6000"), {"kind": "stale_data", "max_age": "1m"})
    alerts = [a for a in decision.alerts if a.kind == "liquidation_price_divergence"]
    assert len(alerts) == 1
    assert alerts[0].account == "acct"


def test_next_state_when_position_closed_then_its_episode_dropped_but_account_episode_kept() -> (
    None
):
    rule = {"kind": "drawdown", "max_drawdown": "10%", "rearm": "5%", "action": "flatten"}
    first = walk([("57900", "4")])[0]
    assert any(k.endswith("|BTC/USDT:USDT|long") for k in first.next_state.episodes)
    gone = run(
        snapshot([], wallet="100000", at=T0 + timedelta(minutes=1)), LADDER, state=first.next_state
    )
    assert gone.next_state.episodes == {}
    dd = run(snapshot([position(quantity="1", entry="60000")], wallet="10000"), rule)
    down = run(
        snapshot(
            [position(quantity="1", entry="60000", mark="58000")],
            wallet="10000",
            at=T0 + timedelta(minutes=1),
        ),
        rule,
        state=dd.next_state,
    )
    flat = run(
        snapshot([], wallet="8000", at=T0 + timedelta(minutes=2)), rule, state=down.next_state
    )
    assert "rule-0|@account" in flat.next_state.episodes


def test_evaluate_when_isolated_and_cross_then_each_judged_by_its_pool() -> None:
    iso = position(
        "SOL/USDT:USDT",
        quantity="100",
        entry="150",
        mark="140",
        mode=MarginMode.ISOLATED,
        isolated_margin="1100",
    )
    rule = {
        "kind": "exit_ladder",
        "metric": "margin_ratio",
        "bands": [{"trigger": "50%", "reduce": "100%"}],
        "rearm": "30%",
    }
    decision = run(snapshot([position(quantity="0.1", entry="60000"), iso], wallet="100000"), rule)
    assert reduced(decision) == {PositionKey("SOL/USDT:USDT", Side.LONG): D(100)}


def test_evaluate_when_stale_then_state_unchanged_so_band_fires_on_fresh_data() -> None:
    stale_rule = {"kind": "stale_data", "max_age": "1m"}
    stale = run(at_mark("57900"), LADDER, stale_rule, at=T0 + timedelta(minutes=5))
    assert stale.reductions == () and stale.next_state == GuardState()
    fresh = run(at_mark("57900", minute=6), LADDER, stale_rule, state=stale.next_state)
    assert reduced(fresh) == {BTC: D(1)}
