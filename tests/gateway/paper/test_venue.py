"""The paper venue's margin, liquidation, funding and fill arithmetic, with hand-computed values."""

from __future__ import annotations

from datetime import timedelta

import pytest

from guard.core.domain import MarginMode, OrderPlan, OrderSide, OrderStatus, OrderType, Side
from guard.core.margin import liquidation_price, measure
from guard.core.venues.base import maintenance_margin
from guard.core.venues.paper import RULES
from guard.gateway.base import OrderRejected
from guard.gateway.paper.book import SlippageModel
from guard.gateway.paper.path import PricePath
from guard.gateway.paper.venue import PaperVenue
from tests.builders import T0, D, position, spec

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"


def venue(
    knots: dict[str, list[tuple[int, str]]],
    funding: dict[str, list[tuple[int, str]]] | None = None,
    slippage: SlippageModel | None = None,
) -> PaperVenue:
    """A venue whose path has knots at T0 + minutes."""
    path = PricePath(
        {s: tuple((T0 + timedelta(minutes=m), D(p)) for m, p in ks) for s, ks in knots.items()}
    )
    markets = {s: spec(s) for s in knots}
    fund = {
        s: [(T0 + timedelta(minutes=m), D(r)) for m, r in rs] for s, rs in (funding or {}).items()
    }
    return PaperVenue(markets, path, fund, slippage or SlippageModel(D(0), D(0)))


def plan(
    account: str,
    symbol: str,
    side: OrderSide,
    qty: str,
    cid: str,
    pos_side: Side = Side.LONG,
    reduce_only: bool = True,
    limit: str | None = None,
) -> OrderPlan:
    return OrderPlan(
        account=account,
        symbol=symbol,
        side=side,
        quantity=D(qty),
        position_side=pos_side,
        margin_mode=MarginMode.CROSS,
        client_order_id=cid,
        order_type=OrderType.MARKET,
        limit_price=D(limit) if limit else None,
        reduce_only=reduce_only,
    )


def test_maintenance_when_notional_in_second_tier_then_rate_times_notional_minus_deduction() -> (
    None
):
    # 1 BTC at 60,000 is in the 50k-250k tier: 0.5 % x 60,000 - 50 = 250
    assert maintenance_margin(position(quantity="1", entry="60000"), spec()) == D("250")
    # 0.5 BTC at 60,000 = 30,000, first tier: 0.4 % x 30,000 = 120
    assert maintenance_margin(position(quantity="0.5", entry="60000"), spec()) == D("120.000")


def test_equity_when_cross_and_isolated_then_wallet_plus_cross_pnl_plus_isolated_equity() -> None:
    v = venue({BTC: [(0, "60000"), (10, "57000")], ETH: [(0, "3000"), (10, "3300")]})
    v.open_account("a", D(10000))
    v.seed_position("a", BTC, Side.LONG, D("1"), D("60000"), D(10))
    v.seed_position("a", ETH, Side.SHORT, D("2"), D("3000"), D(5), MarginMode.ISOLATED)
    # isolated margin 2 x 3000 / 5 = 1200 leaves the wallet at 8800
    assert v.accounts["a"].wallet == D(8800)
    v.advance_to(T0 + timedelta(minutes=10))
    # cross: 8800 + (57000 - 60000) = 5800; isolated: 1200 - 2 x (3300 - 3000) = 600
    assert v.equity("a") == D(6400)


def test_cross_liquidation_when_mark_crosses_computed_price_then_pool_closed_not_before() -> None:
    # one knot a minute, falling 100 a minute: the venue checks liquidation at every knot
    v = venue({BTC: [(m, str(60000 - 100 * m)) for m in range(101)]})
    v.open_account("a", D(6000))
    v.seed_position("a", BTC, Side.LONG, D("1"), D("60000"), D(10))
    liq = liquidation_price(v.snapshot("a").positions[0], v.snapshot("a"), RULES)
    assert liq is not None
    # 6000 + (p - 60000) = 0.005 p - 50  =>  0.995 p = 53950
    assert liq == D(53950) / D("0.995")
    minute_of_liq = (D(60000) - liq) / D(100)  # the path falls 100 per minute
    before = T0 + timedelta(minutes=int(minute_of_liq))
    v.advance_to(before)
    assert v.accounts["a"].liquidations == []
    v.advance_to(T0 + timedelta(minutes=100))
    events = v.accounts["a"].liquidations
    assert len(events) == 1 and events[0].pool == "cross"
    assert events[0].at == before + timedelta(minutes=1)
    assert v.accounts["a"].positions == {}


def test_isolated_liquidation_when_its_margin_is_gone_then_cross_positions_survive() -> None:
    v = venue({BTC: [(0, "60000"), (60, "60000")], ETH: [(0, "3000"), (60, "2700")]})
    v.open_account("a", D(50000))
    v.seed_position("a", BTC, Side.LONG, D("1"), D("60000"), D(10))
    v.seed_position("a", ETH, Side.LONG, D("10"), D("3000"), D(10), MarginMode.ISOLATED)
    v.advance_to(T0 + timedelta(minutes=60))
    events = v.accounts["a"].liquidations
    assert [e.pool for e in events] == [f"isolated:{ETH}"]
    assert list(v.accounts["a"].positions) == [position(BTC).key]
    # the isolated loss is capped at its margin (3000): the wallet keeps the rest
    assert v.accounts["a"].wallet >= D(47000) - D(1)


def test_funding_when_settled_then_longs_pay_rate_times_notional_at_that_mark() -> None:
    v = venue(
        {BTC: [(0, "60000"), (120, "60000")]}, funding={BTC: [(60, "0.0001"), (120, "-0.0002")]}
    )
    v.open_account("a", D(10000))
    v.seed_position("a", BTC, Side.LONG, D("2"), D("60000"), D(10))
    v.advance_to(T0 + timedelta(minutes=60))
    assert v.accounts["a"].wallet == D(10000) - D("12.0000")  # 2 x 60000 x 0.0001
    v.advance_to(T0 + timedelta(minutes=120))
    assert v.accounts["a"].wallet == D(10000) - D(12) + D(24)
    assert v.accounts["a"].funding_paid == D(-12)


async def test_fill_when_reduce_only_market_then_pnl_fee_and_slippage_booked_apart() -> None:
    v = venue({BTC: [(0, "60000"), (10, "62000")]}, slippage=SlippageModel(D("0.001"), D(0)))
    v.open_account("a", D(10000))
    v.seed_position("a", BTC, Side.LONG, D("1"), D("60000"), D(10))
    v.advance_to(T0 + timedelta(minutes=10))
    result = await v.create_order(plan("a", BTC, OrderSide.SELL, "0.4", "c1"))
    assert result.status is OrderStatus.FILLED
    assert result.average_price == D("61938.000")  # 62000 x (1 - 0.001)
    account = v.accounts["a"]
    assert account.realized_pnl == D("800.0")  # 0.4 x (62000 - 60000), at mark
    assert account.slippage_paid == D("24.8000")  # 0.4 x 62
    assert account.fees_paid == D("0.4") * D("61938.000") * D("0.0005")
    assert account.wallet == D(10000) + D(800) - D("24.8") - account.fees_paid
    assert v.accounts["a"].positions[position(BTC).key].quantity == D("0.6")


async def test_order_when_not_reduce_only_on_flagged_account_then_refused() -> None:
    v = venue({BTC: [(0, "60000")]})
    v.open_account("a", D(10000), reduce_only_required=True)
    v.seed_position("a", BTC, Side.LONG, D("1"), D("60000"), D(10))
    with pytest.raises(OrderRejected, match="reduce-only orders only"):
        await v.create_order(plan("a", BTC, OrderSide.SELL, "0.1", "c1", reduce_only=False))
    assert v.accounts["a"].positions[position(BTC).key].quantity == D("1")


@pytest.mark.parametrize(
    ("side", "qty", "why"),
    [(OrderSide.BUY, "0.1", "would increase"), (OrderSide.SELL, "1.5", "larger than the position")],
)
async def test_order_when_it_would_increase_or_exceed_then_refused(
    side: OrderSide, qty: str, why: str
) -> None:
    v = venue({BTC: [(0, "60000")]})
    v.open_account("a", D(10000))
    v.seed_position("a", BTC, Side.LONG, D("1"), D("60000"), D(10))
    with pytest.raises(OrderRejected, match=why):
        await v.create_order(plan("a", BTC, side, qty, "c1"))


async def test_order_when_client_id_reused_then_refused_and_not_filled_twice() -> None:
    v = venue({BTC: [(0, "60000")]})
    v.open_account("a", D(10000))
    v.seed_position("a", BTC, Side.LONG, D("1"), D("60000"), D(10))
    await v.create_order(plan("a", BTC, OrderSide.SELL, "0.1", "same"))
    with pytest.raises(OrderRejected, match="duplicate"):
        await v.create_order(plan("a", BTC, OrderSide.SELL, "0.1", "same"))
    assert v.accounts["a"].positions[position(BTC).key].quantity == D("0.9")
    assert len(v.accounts["a"].fills) == 1


async def test_ioc_when_fill_beyond_worst_price_then_nothing_fills() -> None:
    v = venue({BTC: [(0, "60000")]}, slippage=SlippageModel(D("0.01"), D(0)))
    v.open_account("a", D(10000))
    v.seed_position("a", BTC, Side.LONG, D("1"), D("60000"), D(10))
    result = await v.create_order(plan("a", BTC, OrderSide.SELL, "0.5", "c1", limit="59800"))
    assert result.status is OrderStatus.REJECTED and result.filled_quantity == 0
    assert v.accounts["a"].positions[position(BTC).key].quantity == D("1")


async def test_isolated_reduce_when_partial_then_margin_released_and_liquidation_price_unchanged() -> (
    None
):
    v = venue({ETH: [(0, "3000")]})
    v.open_account("a", D(10000))
    v.seed_position("a", ETH, Side.LONG, D("10"), D("3000"), D(10), MarginMode.ISOLATED)
    before = liquidation_price(v.snapshot("a").positions[0], v.snapshot("a"), RULES)
    await v.create_order(
        OrderPlan(
            "a", ETH, OrderSide.SELL, D("4"), Side.LONG, MarginMode.ISOLATED, "c1", reduce_only=True
        )
    )
    snap = v.snapshot("a")
    assert snap.positions[0].isolated_margin == D(1800)  # 3000 x 6/10 stays posted
    assert liquidation_price(snap.positions[0], snap, RULES) == before
    metrics = measure(snap, RULES)
    assert metrics.positions[0].margin_ratio < 1


def test_demo_scenario_when_run_unguarded_then_account_is_liquidated() -> None:
    from guard.gateway.paper.scenarios import crash

    scenario = crash()
    v = scenario.venue(("demo",))
    v.advance_to(scenario.end)
    assert len(v.accounts["demo"].liquidations) >= 1


def test_mark_when_time_advances_or_path_changes_then_the_remembered_mark_follows() -> None:
    v = venue({BTC: [(0, "60000"), (10, "50000")]})
    assert v.mark(BTC) == D(60000)
    v.advance_to(T0 + timedelta(minutes=5))
    assert v.mark(BTC) == D(55000)
    v.path = PricePath({BTC: ((T0, D(1)), (T0 + timedelta(minutes=10), D(1)))})
    assert v.mark(BTC) == D(1)
