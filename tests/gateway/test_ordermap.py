"""OrderPlan → ccxt create_order arguments, per venue: flags, hedge fields, truncation, ids."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guard.core.domain import MarginMode, MarketSpec, OrderPlan, OrderSide, OrderType, Side
from guard.core.venues.registry import rules_for
from guard.gateway.ordermap import (
    OrderMappingError,
    check_client_id,
    map_order,
    plain,
    truncated_quantity,
)

D = Decimal


def spec(step: str = "0.001", size: str = "1", min_notional: str = "0") -> MarketSpec:
    return MarketSpec(
        "BTC/USDT:USDT", "BTC", "USDT", contract_size=D(size), amount_step=D(step),
        min_notional=D(min_notional),
    )  # fmt: skip


def plan(venue: str, side: Side = Side.LONG, **kw: object) -> OrderPlan:
    values: dict[str, object] = {
        "account": "a",
        "symbol": "BTC/USDT:USDT",
        "side": side.closing_order_side,
        "quantity": D("0.0057"),
        "position_side": side,
        "margin_mode": MarginMode.CROSS,
        "client_order_id": rules_for(venue).client_order_id("a", "BTC", "step"),
        "order_type": OrderType.MARKET,
        "limit_price": D("60000"),
    }
    values.update(kw)
    return OrderPlan(**values)  # type: ignore[arg-type]


def test_binance_when_one_way_then_reduce_only_flag_and_no_position_side() -> None:
    order = map_order("binance", plan("binance"), spec())
    assert (order.type, order.side, order.amount, order.price) == ("market", "sell", "0.005", None)
    assert order.params["reduceOnly"] is True and "positionSide" not in order.params


def test_binance_when_hedged_then_position_side_instead_of_reduce_only() -> None:
    order = map_order("binance", plan("binance", Side.SHORT, hedged=True), spec())
    assert order.params["positionSide"] == "SHORT" and "reduceOnly" not in order.params
    assert order.side == "buy"


@pytest.mark.parametrize(("side", "index"), [(Side.LONG, 1), (Side.SHORT, 2)])
def test_bybit_when_hedged_then_position_index_of_the_closed_side(side: Side, index: int) -> None:
    order = map_order("bybit", plan("bybit", side, hedged=True), spec())
    assert order.params["positionIdx"] == index and order.params["reduceOnly"] is True


def test_bybit_when_one_way_then_position_index_zero() -> None:
    assert map_order("bybit", plan("bybit"), spec()).params["positionIdx"] == 0


def test_okx_when_isolated_then_contracts_and_margin_mode_per_order() -> None:
    order = map_order(
        "okx",
        plan("okx", quantity=D("0.12345"), margin_mode=MarginMode.ISOLATED),
        spec(step="0.0001", size="0.01"),
    )
    assert order.amount == "12.34"  # contracts of 0.01 BTC
    assert order.params["marginMode"] == "isolated" and order.params["reduceOnly"] is True


def test_okx_when_hedged_then_pos_side_and_no_reduce_only() -> None:
    order = map_order("okx", plan("okx", hedged=True), spec())
    assert order.params["posSide"] == "long" and "reduceOnly" not in order.params


def test_hyperliquid_when_market_then_ioc_limit_at_worst_price() -> None:
    order = map_order("hyperliquid", plan("hyperliquid"), spec())
    assert (order.type, order.price, order.params["timeInForce"]) == ("limit", "60000", "Ioc")
    assert order.params["reduceOnly"] is True
    assert "builderFee" not in order.params


def test_dydx_when_planned_then_short_term_ioc_with_integer_client_id() -> None:
    order = map_order("dydx", plan("dydx"), spec())
    assert order.type == "limit" and order.params["timeInForce"] == "IOC"
    assert isinstance(order.params["clientOrderId"], int)


def test_dydx_when_no_price_then_refused() -> None:
    with pytest.raises(OrderMappingError, match="worst-acceptable price"):
        map_order("dydx", plan("dydx", limit_price=None), spec())


def test_map_when_side_would_increase_the_position_then_refused() -> None:
    with pytest.raises(OrderMappingError, match="does not reduce"):
        map_order("binance", replace(plan("binance"), side=OrderSide.BUY), spec())


def test_map_when_rounds_to_zero_then_refused() -> None:
    with pytest.raises(OrderMappingError, match="below the venue minimum"):
        map_order("bybit", plan("bybit", quantity=D("0.0009")), spec())


def test_min_notional_when_binance_reduce_only_then_exempt_else_enforced() -> None:
    small = spec(min_notional="1000")  # 0.005 x 60000 = 300 < 1000
    assert map_order("binance", plan("binance"), small).amount == "0.005"
    with pytest.raises(OrderMappingError, match="minimum notional"):
        map_order("bybit", plan("bybit"), small)


@pytest.mark.parametrize(
    ("venue", "bad"),
    [
        ("binance", "has spaces"),
        ("binance", "x" * 37),
        ("bybit", "a.b"),
        ("okx", "g-abc"),
        ("okx", "g" * 33),
        ("hyperliquid", "0x1234"),
        ("hyperliquid", "1234567890abcdef1234567890abcdef"),
        ("dydx", "0"),
        ("dydx", str(2**32)),
    ],
)
def test_client_id_when_outside_venue_format_then_refused(venue: str, bad: str) -> None:
    with pytest.raises(OrderMappingError):
        check_client_id(venue, bad)


@pytest.mark.parametrize("venue", ["binance", "bybit", "okx", "hyperliquid", "dydx"])
def test_client_id_when_made_by_venue_rules_then_in_venue_format(venue: str) -> None:
    check_client_id(venue, rules_for(venue).client_order_id("acct", "BTC/USDT:USDT", "band-1"))


@settings(max_examples=200, deadline=None)
@given(
    quantity=st.decimals(min_value="0.001", max_value="1000", places=7),
    step_exp=st.integers(min_value=-5, max_value=0),
)
def test_truncation_when_any_quantity_then_never_above_plan_and_on_step(
    quantity: Decimal, step_exp: int
) -> None:
    step = D(1).scaleb(step_exp)
    one = replace(plan("binance"), quantity=quantity)
    try:
        result = truncated_quantity(one, spec(step=str(step)))
    except OrderMappingError:
        assert quantity < step
        return
    assert result <= quantity and quantity - result < step
    assert result % step == 0
    assert D(plain(result)) == result and "E" not in plain(result)
