"""Table tests per rule kind, on plain values and the paper venue's rules."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from guard.core.domain import (
    GuardState,
    MarginMode,
    MarketData,
    PositionKey,
    Severity,
    Side,
    frozen_map,
)
from tests.builders import T0, position, snapshot
from tests.core.engine.helpers import reduced, run

D = Decimal
BTC = PositionKey("BTC/USDT:USDT", Side.LONG)
ETH = PositionKey("ETH/USDT:USDT", Side.LONG)
ETH_SHORT = PositionKey("ETH/USDT:USDT", Side.SHORT)


def book(wallet: str = "5000") -> Any:
    """BTC 1 @ 60000 (12x of 5000) and ETH 10 @ 3000 (6x), both cross."""
    return snapshot(
        [
            position(quantity="1", entry="60000", leverage="20"),
            position("ETH/USDT:USDT", quantity="10", entry="3000", leverage="20"),
        ],
        wallet=wallet,
    )


# (rule, wallet, expected reductions) — every number worked out by hand in the comment.
CASES: list[tuple[str, dict[str, Any], str, dict[PositionKey, str]]] = [
    # IM = 90000/20 = 4500; free = 500 = 10 % < 50 %; restore 60 % of 5000 = 3000 needs IM 2000:
    # 2500 of IM = 50000 notional off BTC (most leveraged) = 0.8333 -> 0.834 (step up).
    (
        "buffer free collateral, highest leverage",
        {"kind": "buffer_floor", "metric": "free_collateral_pct", "floor": "50%", "restore": "60%"},
        "5000",
        {BTC: "0.834"},
    ),
    (
        "buffer not breached",
        {"kind": "buffer_floor", "metric": "free_collateral_pct", "floor": "5%", "restore": "8%"},
        "5000",
        {},
    ),
    # gross 90000 / 5000 = 18x > 10x: 40000 notional off BTC first = 0.667 BTC.
    ("leverage account cap", {"kind": "leverage_cap", "account": "10x"}, "5000", {BTC: "0.667"}),
    # same cap, pro-rata: 40000/90000 = 4/9 of each: 0.445 BTC, 4.445 ETH (step up).
    (
        "leverage account cap pro-rata",
        {"kind": "leverage_cap", "account": "10x", "order": "pro_rata"},
        "5000",
        {BTC: "0.445", ETH: "4.445"},
    ),
    # per position 5x of 5000 = 25000 notional: BTC keeps 0.41666 -> cut 0.584; ETH keeps 8.333.
    (
        "leverage position cap",
        {"kind": "leverage_cap", "position": "5x"},
        "5000",
        {BTC: "0.584", ETH: "1.667"},
    ),
    ("leverage under cap", {"kind": "leverage_cap", "account": "20x"}, "5000", {}),
    # gross 90000 vs 50000 in order of leverage: BTC first, 40000 notional = 0.667.
    ("gross exposure cap", {"kind": "exposure_cap", "limit": "50000"}, "5000", {BTC: "0.667"}),
    # 300 % of equity 10000 = 30000 cap on gross 90000: 60000 off BTC = all of BTC.
    (
        "gross exposure cap % of equity",
        {"kind": "exposure_cap", "limit_pct_of_equity": "300%"},
        "10000",
        {BTC: "1"},
    ),
    # per asset net: BTC 60000 vs 20000 -> 0.667; ETH 30000 vs 20000 -> 3.334.
    (
        "net exposure per asset",
        {"kind": "exposure_cap", "measure": "net", "scope": "per_asset", "limit": "20000"},
        "5000",
        {BTC: "0.667", ETH: "3.334"},
    ),
]


@pytest.mark.parametrize(("name", "rule", "wallet", "expected"), CASES, ids=[c[0] for c in CASES])
def test_evaluate_when_level_rule_table_then_expected_reductions(
    name: str, rule: dict[str, Any], wallet: str, expected: dict[PositionKey, str]
) -> None:
    decision = run(book(wallet), rule)
    assert reduced(decision) == {k: D(v) for k, v in expected.items()}
    for finding in decision.findings:
        if finding.request is not None:
            assert finding.request.level
            assert finding.severity is Severity.BREACH
            assert finding.reason


def test_evaluate_when_margin_ratio_buffer_breached_then_restored_after_reduction() -> None:
    from guard.core.margin import measure
    from guard.core.stress import reduced as apply
    from guard.core.venues.paper import RULES

    snap = book()
    rule = {
        "kind": "buffer_floor",
        "metric": "margin_ratio",
        "floor": "5%",
        "restore": "3%",
        "order": "pro_rata",
    }
    decision = run(snap, rule)
    cut = reduced(decision)
    assert set(cut) == {BTC, ETH}
    assert measure(snap, RULES).cross_margin_ratio > D("0.05")
    assert measure(apply(snap, cut), RULES).cross_margin_ratio <= D("0.03")


def test_evaluate_when_cross_equity_gone_then_margin_ratio_ladder_closes_instead_of_raising() -> (
    None
):
    # wallet 5000, loss 10000 (1 BTC 60000 -> 50000): cross equity -5000, margin ratio infinite.
    # The ladder must fire every band (the whole position), not fail describing "infinite".
    snap = snapshot(
        [position(quantity="1", entry="60000", mark="50000", leverage="20")], wallet="5000"
    )
    rule = {
        "kind": "exit_ladder",
        "metric": "margin_ratio",
        "rearm": "40%",
        "bands": [{"trigger": "50%", "reduce": "50%"}, {"trigger": "80%", "reduce": "100%"}],
    }
    decision = run(snap, rule)
    assert reduced(decision) == {BTC: D("1")}
    assert "margin_ratio infinite" in decision.findings[0].reason


def test_evaluate_when_isolated_position_breaches_own_margin_then_cut_by_isolated_fraction() -> (
    None
):
    iso = position(
        "SOL/USDT:USDT",
        quantity="100",
        entry="150",
        mark="140",
        mode=MarginMode.ISOLATED,
        isolated_margin="1100",
    )
    snap = snapshot([position(quantity="0.1", entry="60000"), iso], wallet="100000")
    # own equity 1100 - 1000 = 100; own maintenance 14000 x 0.004 = 56: 56 % > 50 %
    decision = run(
        snap,
        {
            "kind": "buffer_floor",
            "metric": "margin_ratio",
            "floor": "50%",
            "restore": "40%",
            "isolated_reduce": "25%",
        },
    )
    assert reduced(decision) == {PositionKey("SOL/USDT:USDT", Side.LONG): D("25")}
    assert "its own margin ratio" in decision.findings[0].reason


def test_evaluate_when_priority_order_then_listed_symbols_reduced_first() -> None:
    rule = {"kind": "leverage_cap", "account": "10x", "order": "priority", "priority": ["ETH/*"]}
    # 40000 notional: all of ETH (30000) first, then 10000 of BTC = 0.167
    assert reduced(run(book(), rule)) == {ETH: D("10"), BTC: D("0.167")}


def test_evaluate_when_largest_loss_order_then_losing_position_first() -> None:
    snap = snapshot(
        [
            position(quantity="1", entry="60000", mark="60000", leverage="20"),
            position("ETH/USDT:USDT", quantity="10", entry="3300", mark="3000", leverage="20"),
        ],
        wallet="8000",
    )
    rule = {"kind": "exposure_cap", "limit": "80000", "order": "largest_loss"}
    assert reduced(run(snap, rule)) == {ETH: D("3.334")}


def funding_book(rate: str, predicted: str | None = None) -> Any:
    snap = snapshot([position("ETH/USDT:USDT", quantity="10", entry="3000")], wallet="50000")
    data = MarketData(
        "ETH/USDT:USDT",
        D(3000),
        funding_rate=D(rate),
        predicted_funding_rate=D(predicted) if predicted else None,
    )
    return replace(snap, market_data=frozen_map({"ETH/USDT:USDT": data}))


@pytest.mark.parametrize(
    ("rate", "rule", "expected"),
    [
        ("0.001", {"threshold": "0.05%"}, "10"),  # long pays 0.1 % > 0.05 %: close
        ("0.0001", {"threshold": "0.05%"}, None),  # pays 0.01 %: fine
        ("-0.001", {"threshold": "0.05%"}, None),  # long receives: fine
        # 0.0002 per 8h x 1095 = 21.9 % a year > 20 %
        ("0.0002", {"threshold": "20%", "annualised": True}, "10"),
        ("0.0002", {"threshold": "25%", "annualised": True}, None),
        ("0.001", {"threshold": "0.05%", "action": "reduce", "reduce": "30%"}, "3"),
    ],
)
def test_evaluate_when_funding_table_then_expected(
    rate: str, rule: dict[str, Any], expected: str | None
) -> None:
    decision = run(funding_book(rate), {"kind": "funding_threshold", **rule})
    assert reduced(decision) == ({} if expected is None else {ETH: D(expected)})


def test_evaluate_when_predicted_rate_configured_then_current_ignored() -> None:
    rule = {"kind": "funding_threshold", "threshold": "0.05%", "rate": "predicted"}
    assert reduced(run(funding_book("0.001", "0.0001"), rule)) == {}
    assert reduced(run(funding_book("0.0001", "0.001"), rule)) == {ETH: D(10)}


def test_evaluate_when_funding_sustained_then_acts_only_on_third_interval() -> None:
    rule = {"kind": "funding_threshold", "threshold": "0.05%", "sustained": 3}
    state = GuardState()
    results = []
    for hours in (0, 1, 8, 16):  # intervals 0, 0, 1, 2 (8h intervals from the epoch)
        snap = replace(funding_book("0.001"), taken_at=T0 + timedelta(hours=hours))
        decision = run(snap, rule, state=state)
        state = decision.next_state
        results.append(reduced(decision))
    assert results == [{}, {}, {}, {ETH: D(10)}]


def test_evaluate_when_funding_streak_broken_then_counting_restarts() -> None:
    rule = {"kind": "funding_threshold", "threshold": "0.05%", "sustained": 2}
    state = GuardState()
    for hours, rate in ((0, "0.001"), (8, "0"), (16, "0.001")):
        snap = replace(funding_book(rate), taken_at=T0 + timedelta(hours=hours))
        decision = run(snap, rule, state=state)
        state = decision.next_state
    assert reduced(decision) == {}


def test_evaluate_when_funding_window_then_only_close_to_funding_time() -> None:
    rule = {"kind": "funding_threshold", "threshold": "0.05%", "window": "30m"}
    early = replace(funding_book("0.001"), taken_at=T0 + timedelta(hours=1))
    late = replace(funding_book("0.001"), taken_at=T0 + timedelta(hours=7, minutes=45))
    assert reduced(run(early, rule)) == {}
    assert reduced(run(late, rule)) == {ETH: D(10)}


def test_evaluate_when_funding_reduce_then_once_per_interval() -> None:
    rule = {"kind": "funding_threshold", "threshold": "0.05%", "action": "reduce", "reduce": "50%"}
    first = run(funding_book("0.001"), rule)
    again = run(
        replace(funding_book("0.001"), taken_at=T0 + timedelta(minutes=5)),
        rule,
        state=first.next_state,
    )
    next_interval = run(
        replace(funding_book("0.001"), taken_at=T0 + timedelta(hours=8)),
        rule,
        state=first.next_state,
    )
    assert reduced(first) == {ETH: D(5)}
    assert reduced(again) == {}
    assert reduced(next_interval) == {ETH: D(5)}


def test_evaluate_when_drawdown_crosses_limit_then_cut_once_and_rearm() -> None:
    rule = {
        "kind": "drawdown",
        "max_drawdown": "10%",
        "rearm": "5%",
        "action": "reduce",
        "reduce": "50%",
        "window": "1d",
    }
    state = GuardState()
    outcomes = []
    # equity = wallet + uPnL: 10000 at 60000, 8000 at 58000 (20 % down), 9600 (4 % down)
    for minute, mark in ((0, "60000"), (1, "58000"), (2, "58000"), (3, "59600"), (4, "58000")):
        snap = snapshot(
            [position(quantity="1", entry="60000", mark=mark)],
            wallet="10000",
            at=T0 + timedelta(minutes=minute),
        )
        decision = run(snap, rule, state=state)
        state = decision.next_state
        outcomes.append(reduced(decision))
    assert outcomes == [{}, {BTC: D("0.5")}, {}, {}, {BTC: D("0.5")}]


def test_evaluate_when_drawdown_peak_outside_window_then_ignored() -> None:
    rule = {
        "kind": "drawdown",
        "max_drawdown": "10%",
        "rearm": "5%",
        "action": "flatten",
        "window": "1h",
    }
    first = run(snapshot([position(quantity="1", entry="60000")], wallet="10000"), rule)
    later = snapshot(
        [position(quantity="1", entry="60000", mark="58000")],
        wallet="10000",
        at=T0 + timedelta(hours=2),
    )
    assert reduced(run(later, rule, state=first.next_state)) == {}
    recent = replace(later, taken_at=T0 + timedelta(minutes=30))
    assert reduced(run(recent, rule, state=first.next_state)) == {BTC: D(1)}


def test_evaluate_when_stress_fails_then_minimal_pro_rata_reduction_survives() -> None:
    from guard.core.stress import Shock, survive
    from guard.core.venues.paper import RULES

    snap = book()
    decision = run(
        snap, {"kind": "stress", "shocks": [{"move": "-30%"}], "margin_of_safety": "10%"}
    )
    cut = reduced(decision)
    assert set(cut) == {BTC, ETH}
    solution = survive(snap, Shock("x", D("-0.3")), RULES, D("0.1"))
    assert cut == dict(solution.reductions)
    assert solution.survives


def test_evaluate_when_stress_survivable_then_nothing() -> None:
    decision = run(book("100000"), {"kind": "stress", "shocks": [{"move": "-30%"}]})
    assert reduced(decision) == {}


def test_evaluate_when_level_rule_cooling_down_then_finding_without_order() -> None:
    rule = {"kind": "leverage_cap", "account": "10x", "cooldown": "5m"}
    first = run(book(), rule)
    assert reduced(first) == {BTC: D("0.667")}
    soon = run(replace(book(), taken_at=T0 + timedelta(minutes=1)), rule, state=first.next_state)
    assert reduced(soon) == {}
    assert any("cooling down" in f.reason for f in soon.findings)
    later = run(replace(book(), taken_at=T0 + timedelta(minutes=6)), rule, state=first.next_state)
    assert reduced(later) == {BTC: D("0.667")}


def test_evaluate_when_selector_excludes_then_rule_ignores_position() -> None:
    rule = {"kind": "leverage_cap", "position": "5x", "select": {"symbols": ["ETH/*"]}}
    assert set(reduced(run(book(), rule))) == {ETH}
    other = {"kind": "leverage_cap", "position": "5x", "select": {"accounts": ["someone-else"]}}
    assert run(book(), other).findings == ()


def test_evaluate_when_disabled_then_rule_ignored() -> None:
    assert run(book(), {"kind": "leverage_cap", "account": "1x", "enabled": False}).findings == ()


def test_evaluate_when_hedged_net_cap_then_heavy_side_reduced() -> None:
    snap = snapshot(
        [
            position("ETH/USDT:USDT", quantity="10", entry="3000"),
            position("ETH/USDT:USDT", side=Side.SHORT, quantity="4", entry="3000"),
        ],
        wallet="50000",
    )
    rule = {"kind": "exposure_cap", "measure": "net", "limit": "9000"}
    # net 30000 - 12000 = 18000 vs 9000: 3 ETH off the long side
    assert reduced(run(snap, rule)) == {ETH: D(3)}


def test_evaluate_when_isolated_buffer_thin_under_free_collateral_then_cut() -> None:
    iso = position(
        "SOL/USDT:USDT",
        quantity="100",
        entry="150",
        mark="145",
        mode=MarginMode.ISOLATED,
        isolated_margin="600",
    )
    # own equity 600 - 500 = 100; own maintenance 14500 x 0.4 % = 58: (100 - 58) / 100 = 42 %
    snap = snapshot([iso], wallet="100000")
    rule = {
        "kind": "buffer_floor",
        "metric": "free_collateral_pct",
        "floor": "50%",
        "restore": "60%",
    }
    assert reduced(run(snap, rule)) == {PositionKey("SOL/USDT:USDT", Side.LONG): D(50)}
    rule["floor"], rule["restore"] = "40%", "60%"
    assert reduced(run(snap, rule)) == {}


def test_level_request_when_restated_next_tick_then_new_step_and_client_id() -> None:
    from guard.core.planner import plan
    from guard.core.venues.paper import RULES

    rule = {"kind": "leverage_cap", "account": "10x"}
    now, later = book(), replace(book(), taken_at=T0 + timedelta(minutes=1))
    first, again, second = run(now, rule), run(now, rule), run(later, rule)
    assert first.reductions[0].steps == again.reductions[0].steps
    assert first.reductions[0].steps != second.reductions[0].steps
    ids = {
        o.client_order_id
        for d, s in ((first, now), (second, later))
        for o in plan(d, s, RULES).orders
    }
    assert len(ids) == 2
