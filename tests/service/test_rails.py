"""The rails as plain functions: staleness, circuit breakers, tick-to-tick sanity."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from guard.core.domain import AccountSnapshot, OrderPlan, OrderSide, PositionKey, Side
from guard.core.rails import (
    BreakerLimits,
    Rail,
    SanityBounds,
    WindowTotals,
    breaker,
    compare,
    plan_notional,
    staleness,
)
from tests.builders import position, snapshot

D = Decimal
LIMITS = BreakerLimits(timedelta(hours=1), 3, D(100_000), 5, D(250_000))
BOUNDS = SanityBounds(D("0.5"), D("0.5"))
BTC = PositionKey("BTC/USDT:USDT", Side.LONG)


def _snap(quantity: str = "1", wallet: str = "20000", mark: str = "60000") -> AccountSnapshot:
    return snapshot([position(quantity=quantity, mark=mark)], wallet=wallet)


def test_staleness_when_snapshot_older_than_bound_then_hold() -> None:
    snap = _snap()
    assert staleness(snap, snap.taken_at + timedelta(seconds=30), timedelta(minutes=1)) is None
    hold = staleness(snap, snap.taken_at + timedelta(minutes=3), timedelta(minutes=1))
    assert hold is not None and hold.rail is Rail.STALE and "180.0s old" in hold.reason


def test_breaker_when_orders_would_pass_account_limit_then_hold_names_it() -> None:
    assert breaker("a", 1, D(10), WindowTotals(2, D(0)), WindowTotals(2, D(0)), LIMITS) is None
    hold = breaker("a", 2, D(10), WindowTotals(2, D(0)), WindowTotals(2, D(0)), LIMITS)
    assert hold is not None and hold.key == "breaker:orders:a" and "limit 3" in hold.reason


def test_breaker_when_global_notional_would_pass_then_hold() -> None:
    hold = breaker("a", 1, D(60_000), WindowTotals(), WindowTotals(4, D(200_000)), LIMITS)
    assert hold is not None and hold.key == "breaker:notional:global"


@settings(max_examples=60, deadline=None)
@given(
    orders=st.integers(0, 10),
    done=st.integers(0, 10),
    notional=st.decimals(0, 300_000, places=2),
)
def test_breaker_when_any_total_within_limits_then_no_hold_else_hold(
    orders: int, done: int, notional: Decimal
) -> None:
    mine = WindowTotals(done, D(0))
    hold = breaker("a", orders, notional, mine, mine, LIMITS)
    within = done + orders <= 3 and notional <= 100_000
    assert (hold is None) == within


def test_plan_notional_when_marks_known_then_quantity_times_mark() -> None:
    snap = _snap()
    plan = OrderPlan(
        "a",
        "BTC/USDT:USDT",
        OrderSide.SELL,
        D("0.5"),
        Side.LONG,
        snap.positions[0].margin_mode,
        "g-1",
    )
    mark = snap.market_data["BTC/USDT:USDT"].mark_price
    assert plan_notional([plan], snap) == D("0.5") * mark


def test_compare_when_position_shrinks_beyond_our_fills_then_change_reported() -> None:
    before, after = _snap("1"), _snap("0.4")
    holds, changes = compare(before, after, {BTC: D("0.2")}, BOUNDS)
    assert holds == []
    assert len(changes) == 1 and changes[0].unexplained == D("0.4")
    assert "without our order" in changes[0].describe()


def test_compare_when_our_fills_explain_the_shrink_then_nothing() -> None:
    holds, changes = compare(_snap("1"), _snap("0.4"), {BTC: D("0.6")}, BOUNDS)
    assert holds == [] and changes == []


def test_compare_when_position_vanishes_then_change_says_vanished() -> None:
    empty = replace(_snap(), positions=())
    _, changes = compare(_snap("1"), empty, {}, BOUNDS)
    assert changes[0].vanished and "vanished" in changes[0].describe()


def test_compare_when_position_grows_beyond_bound_then_sanity_hold() -> None:
    holds, changes = compare(_snap("1"), _snap("1.6"), {}, BOUNDS)
    assert [h.rail for h in holds] == [Rail.SANITY] and changes == []
    assert compare(_snap("1"), _snap("1.4"), {}, BOUNDS) == ([], [])


def test_compare_when_equity_jumps_beyond_bound_then_sanity_hold() -> None:
    holds, _ = compare(_snap(wallet="20000"), _snap(wallet="5000"), {}, BOUNDS)
    assert any("equity" in h.reason for h in holds)


def test_compare_when_no_previous_snapshot_then_nothing_to_compare() -> None:
    assert compare(None, _snap(), {}, BOUNDS) == ([], [])


def test_compare_when_equity_drop_is_the_marks_move_at_high_leverage_then_no_hold() -> None:
    # 3.333 BTC on 10,000 (20x): a 2.4 % fall costs 4,800 of equity (48 %... then more)
    before = snapshot([position(quantity="3.333", mark="60000")], wallet="10000")
    after = snapshot([position(quantity="3.333", mark="58200")], wallet="10000")
    assert compare(before, after, {}, BOUNDS) == ([], [])
    # the same equity drop with the mark unchanged is not explained: hold
    drained = snapshot([position(quantity="3.333", mark="60000")], wallet="4000")
    holds, _ = compare(before, drained, {}, BOUNDS)
    assert [h.rail for h in holds] == [Rail.SANITY] and "not explained" in holds[0].reason


def test_compare_when_mark_jumps_beyond_mark_bound_then_it_explains_nothing() -> None:
    before = snapshot([position(quantity="1", mark="60000")], wallet="10000")
    after = snapshot([position(quantity="1", mark="40000")], wallet="10000")  # -33 % mark
    holds, _ = compare(before, after, {}, BOUNDS)
    assert [h.rail for h in holds] == [Rail.SANITY]
