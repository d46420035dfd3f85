"""Invariant 1 as a property: every planned order is reduce-only, opposite its position, a multiple of
the venue step, within the venue's maximum order amount and value, and the orders of one position
add up to no more than its size."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from guard.core.domain import (
    Decision,
    Execution,
    GuardState,
    MarginMode,
    PositionKey,
    Reduction,
    Side,
)
from guard.core.planner import plan
from guard.core.venues.paper import RULES
from tests.builders import T0, D, position, snapshot, spec

STEPS = [D("0.001"), D("0.01"), D("0.1"), D("1")]


@st.composite
def book(draw: st.DrawFn) -> tuple[object, Decision]:
    count = draw(st.integers(1, 4))
    positions = []
    markets = {}
    reductions = []
    for i in range(count):
        symbol = f"C{i}/USDT:USDT"
        step = draw(st.sampled_from(STEPS))
        units = draw(st.integers(1, 5000))
        quantity = step * units
        mark = draw(st.decimals(min_value=D("0.5"), max_value=D(100000), places=2))
        side = draw(st.sampled_from([Side.LONG, Side.SHORT]))
        mode = draw(st.sampled_from([MarginMode.CROSS, MarginMode.ISOLATED]))
        min_notional = draw(st.sampled_from([D(0), D(5), D(100)]))
        max_units = draw(st.one_of(st.none(), st.integers(2, 2000)))
        markets[symbol] = spec(
            symbol,
            step=str(step),
            tick="0.01",
            min_notional=min_notional,
            reduce_only_exempt_from_min_notional=draw(st.booleans()),
            max_order_amount=step * max_units if max_units is not None else None,
            max_order_notional=draw(
                st.one_of(st.none(), st.decimals(min_value=D(1000), max_value=D(10**7), places=0))
            ),
        )
        positions.append(
            position(
                symbol,
                side,
                str(quantity),
                str(mark),
                str(mark),
                mode,
                isolated_margin="100" if mode is MarginMode.ISOLATED else None,
            )
        )
        wanted = draw(st.decimals(min_value=D("0.000001"), max_value=quantity * 3, places=6))
        slice_notional = draw(
            st.one_of(st.none(), st.decimals(min_value=D(10), max_value=D(10**6), places=0))
        )
        reductions.append(
            Reduction(
                PositionKey(symbol, side),
                wanted,
                ("r",),
                ("why",),
                (f"s{i}",),
                Execution(max_slice_notional=slice_notional),
            )
        )
    snap = snapshot(positions, markets=markets)
    decision = Decision("acct", T0, (), tuple(reductions), (), GuardState())
    return snap, decision


@settings(max_examples=300, deadline=None)
@given(book())
def test_plan_when_any_reduction_then_orders_reduce_only_opposite_and_within_size(
    case: tuple[object, Decision],
) -> None:
    snap, decision = case
    planned = plan(decision, snap, RULES)  # type: ignore[arg-type]
    total: dict[PositionKey, Decimal] = defaultdict(Decimal)
    for order in planned.orders:
        held = snap.position(order.key)  # type: ignore[attr-defined]
        assert held is not None
        assert order.reduce_only is True
        assert order.side is held.side.closing_order_side
        assert order.quantity > 0
        market = snap.market(order.symbol)  # type: ignore[attr-defined]
        assert order.quantity % market.amount_step == 0
        if market.max_order_amount is not None:
            assert order.quantity <= market.max_order_amount
        if market.max_order_notional is not None:
            price = max(held.mark_price, order.limit_price or held.mark_price)
            assert order.quantity * price <= market.max_order_notional
        total[order.key] += order.quantity
    for key, quantity in total.items():
        assert quantity <= snap.position(key).quantity  # type: ignore[attr-defined]
    ids = [o.client_order_id for o in planned.orders]
    assert len(ids) == len(set(ids))


@settings(max_examples=100, deadline=None)
@given(book())
def test_plan_when_planned_twice_then_identical_client_ids(case: tuple[object, Decision]) -> None:
    snap, decision = case
    first = plan(decision, snap, RULES)  # type: ignore[arg-type]
    second = plan(decision, snap, RULES)  # type: ignore[arg-type]
    assert first == second


def test_plan_when_one_step_is_above_the_venue_max_value_then_skipped_with_reason() -> None:
    # found by the property above: mark 9,998.71 (one step 0.1 = 999.87 <= 1,002) but the buy's
    # worst acceptable price 10,098.69 makes one step 1,009.87 > 1,002: the venue would refuse it
    market = spec("C0/USDT:USDT", step="0.1", tick="0.01", max_order_notional=D(1002))
    short = position("C0/USDT:USDT", Side.SHORT, "0.1", "9998.71")
    snap = snapshot([short], markets={market.symbol: market})
    reduction = Reduction(short.key, D("0.1"), ("r",), ("why",), ("s0",), Execution())
    planned = plan(Decision("acct", T0, (), (reduction,), (), GuardState()), snap, RULES)
    assert planned.orders == ()
    (skipped,) = planned.skipped
    assert "above the venue's maximum order value 1002" in skipped.reason
