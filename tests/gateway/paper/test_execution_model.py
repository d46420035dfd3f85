"""The paper venue's replay execution model: fills after a latency at the path's later price,
impact with memory across slices and scaled by volatility, bankruptcy recorded as a liquidation."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from guard.core.domain import MarginMode, OrderPlan, OrderSide, OrderType, Side
from guard.gateway.paper.book import SlippageModel
from guard.gateway.paper.impact import ExecutionModel, volatility_scale
from guard.gateway.paper.path import PricePath
from guard.gateway.paper.venue import PaperVenue
from tests.builders import T0, D, spec

BTC = "BTC/USDT:USDT"


def sell(quantity: str, cid: str) -> OrderPlan:
    return OrderPlan(
        account="a",
        symbol=BTC,
        side=OrderSide.SELL,
        quantity=D(quantity),
        position_side=Side.LONG,
        margin_mode=MarginMode.CROSS,
        client_order_id=cid,
        order_type=OrderType.MARKET,
    )


def paper(
    execution: ExecutionModel, knots: tuple[tuple[int, str], ...], impact: str = "0"
) -> PaperVenue:
    path = PricePath({BTC: tuple((T0 + timedelta(seconds=s), D(p)) for s, p in knots)})
    venue = PaperVenue(
        {BTC: spec(BTC)}, path, slippage=SlippageModel(D(0), D(impact)), execution=execution
    )
    venue.open_account("a", D(10000))
    venue.seed_position("a", BTC, Side.LONG, D(2), D(60000), D(10))
    return venue


async def test_fill_when_latency_then_filled_at_the_price_after_the_latency() -> None:
    knots = ((0, "60000"), (10, "59000"))
    late = paper(ExecutionModel(latency=timedelta(seconds=2)), knots)
    at_once = paper(ExecutionModel(), knots)
    assert (await late.create_order(sell("1", "x"))).average_price == D("59800")
    assert (await at_once.create_order(sell("1", "x"))).average_price == D("60000")


async def test_fill_when_impact_memory_then_second_slice_pays_for_the_first() -> None:
    knots = ((0, "60000"), (3600, "60000"))
    remembering = paper(ExecutionModel(impact_half_life=timedelta(minutes=10)), knots, "1e-7")
    first = (await remembering.create_order(sell("0.5", "a"))).average_price
    second = (await remembering.create_order(sell("0.5", "b"))).average_price
    forgetting = paper(ExecutionModel(), knots, "1e-7")
    one = (await forgetting.create_order(sell("0.5", "a"))).average_price
    two = (await forgetting.create_order(sell("0.5", "b"))).average_price
    assert first is not None and second is not None and second < first
    assert one == two == first


def test_volatility_scale_when_calm_then_one_when_wild_then_capped() -> None:
    calm = PricePath({BTC: tuple((T0 + timedelta(minutes=m), D(60000)) for m in range(61))})
    swings = tuple(
        (T0 + timedelta(minutes=m), D(60000) * (D("1.03") if m % 2 else D(1))) for m in range(61)
    )
    wild = PricePath({BTC: swings})
    end = T0 + timedelta(minutes=60)
    assert volatility_scale(calm, BTC, end, D("0.002")) == 1
    assert volatility_scale(wild, BTC, end, D("0.002"), cap=D(5)) == 5


async def test_fill_when_wallet_ends_below_zero_then_bankruptcy_counts_as_liquidation() -> None:
    # a 2 BTC 10x long sold 1 % below a 5,000-down mark with a huge impact: the wallet goes
    # negative with no position left; the venue absorbs it and records a liquidation
    venue = paper(ExecutionModel(), ((0, "60000"), (60, "60000")), impact="0.0000004")
    venue.accounts["a"].wallet = Decimal(100)
    await venue.create_order(sell("2", "x"))
    account = venue.accounts["a"]
    assert account.wallet == 0 and account.shortfall_absorbed > 0
    assert [event.pool for event in account.liquidations] == ["bankrupt"]
