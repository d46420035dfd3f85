"""Engine: level rules with `restore_to` (reduce past the cap, so the next cut waits for a real
move) and `min_order_notional` (a sliver is reported, not sent, unless it closes the position)."""

from __future__ import annotations

from decimal import Decimal

from guard.core.domain import PositionKey, Severity, Side
from guard.core.policy.describe import describe
from tests.builders import position, snapshot
from tests.core.engine.helpers import policies, reduced, run

D = Decimal
BTC = PositionKey("BTC/USDT:USDT", Side.LONG)
# 0.51 BTC at 60000 = 30,600 notional on a 10,000 wallet: 3.06x gross, the cap is 3x
SLIGHTLY_OVER = snapshot([position(quantity="0.51", entry="60000", mark="60000")], wallet="10000")
CAP = {"kind": "leverage_cap", "account": "3x"}


def test_leverage_cap_when_slightly_over_then_restates_a_sliver() -> None:
    # 600 of excess notional = 0.01 BTC: the dust the carry example dripped
    assert reduced(run(SLIGHTLY_OVER, CAP)) == {BTC: D("0.01")}


def test_leverage_cap_when_min_order_notional_above_the_sliver_then_reports_no_order() -> None:
    decision = run(SLIGHTLY_OVER, {**CAP, "min_order_notional": "1000"})
    assert reduced(decision) == {}
    [note] = decision.findings
    assert note.severity is Severity.INFO and note.request is None
    assert "worth 600.00, below min_order_notional 1000: no order (no dust)" in note.reason


def test_leverage_cap_when_restore_to_90_then_reduces_to_2_7x() -> None:
    # 30,600 - 0.9 × 3 × 10,000 = 3,600 of notional = 0.06 BTC
    decision = run(SLIGHTLY_OVER, {**CAP, "restore_to": "90%", "min_order_notional": "1000"})
    assert reduced(decision) == {BTC: D("0.06")}
    assert "restoring 90% of it (2.70x)" in decision.reductions[0].reasons[0]


def test_min_order_notional_when_the_request_closes_the_position_then_still_sent() -> None:
    # no equity left: the cap asks for the whole 0.01 BTC (600), under the floor but closing
    tiny = snapshot([position(quantity="0.01", entry="60000", mark="60000")], wallet="0")
    assert reduced(run(tiny, {**CAP, "min_order_notional": "1000"})) == {BTC: D("0.01")}


def test_exposure_cap_when_restore_to_80_then_reduces_to_80_percent_of_the_limit() -> None:
    rule = {"kind": "exposure_cap", "limit": "30000", "restore_to": "80%"}
    # 30,600 - 0.8 × 30,000 = 6,600 of notional = 0.11 BTC
    assert reduced(run(SLIGHTLY_OVER, rule)) == {BTC: D("0.11")}


def test_describe_when_cap_has_hysteresis_and_floor_then_says_both() -> None:
    [rule] = policies({**CAP, "restore_to": "90%", "min_order_notional": "1000"}).rules
    assert describe(rule).endswith(
        "(down to 90% of the cap; no order under 1000 of notional unless it closes the position)"
        ". Orders: market orders, at most 1% from mark."
    )
