"""The venue's maximum order size reaches the planner: ccxt builds each market from a payload
shaped as the venue documents it, the parser takes the smallest stated maximum (market orders
included), and the planner slices a larger reduction below it.

Pages: Binance USDⓈ-M "Exchange Information" (GET /fapi/v1/exchangeInfo: LOT_SIZE and
MARKET_LOT_SIZE filters); OKX "Get instruments" (GET /api/v5/public/instruments: maxLmtSz,
maxMktSz in contracts of ctVal); Bybit v5 "Get Instruments Info" (GET /v5/market/instruments-info:
lotSizeFilter.maxOrderQty, maxMktOrderQty). The payloads go through ccxt's own market parsing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import ccxt

from guard.core.domain import Decision, Execution, GuardState, PositionKey, Reduction, Side
from guard.core.planner import plan
from guard.core.venues.registry import rules_for
from guard.gateway.parsers import parse_snapshot
from tests.builders import D, position, snapshot

AT = datetime(2024, 8, 5, tzinfo=UTC)
BTC = "BTC/USDT:USDT"

BINANCE_SYMBOL = {
    "symbol": "BTCUSDT", "pair": "BTCUSDT", "contractType": "PERPETUAL",
    "deliveryDate": 4133404800000, "onboardDate": 1569398400000, "status": "TRADING",
    "maintMarginPercent": "2.5000", "requiredMarginPercent": "5.0000", "baseAsset": "BTC",
    "quoteAsset": "USDT", "marginAsset": "USDT", "pricePrecision": 2, "quantityPrecision": 3,
    "baseAssetPrecision": 8, "quotePrecision": 8, "underlyingType": "COIN",
    "underlyingSubType": [], "settlePlan": 0, "triggerProtect": "0.0500",
    "filters": [
        {"minPrice": "556.80", "maxPrice": "4529764", "filterType": "PRICE_FILTER", "tickSize": "0.10"},
        {"stepSize": "0.001", "filterType": "LOT_SIZE", "maxQty": "1000", "minQty": "0.001"},
        {"stepSize": "0.001", "filterType": "MARKET_LOT_SIZE", "maxQty": "120", "minQty": "0.001"},
        {"limit": 200, "filterType": "MAX_NUM_ORDERS"},
        {"notional": "100", "filterType": "MIN_NOTIONAL"},
    ],
    "orderTypes": ["LIMIT", "MARKET", "STOP"], "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
}  # fmt: skip
OKX_INSTRUMENT = {
    "alias": "", "baseCcy": "", "category": "1", "ctMult": "1", "ctType": "linear",
    "ctVal": "0.01", "ctValCcy": "BTC", "expTime": "", "instFamily": "BTC-USDT",
    "instId": "BTC-USDT-SWAP", "instType": "SWAP", "lever": "100", "listTime": "1573557408000",
    "lotSz": "0.01", "maxIcebergSz": "100000000", "maxLmtAmt": "20000000",
    "maxLmtSz": "100000000", "maxMktAmt": "", "maxMktSz": "12000", "maxStopSz": "12000",
    "maxTriggerSz": "100000000", "maxTwapSz": "100000000", "minSz": "0.01", "optType": "",
    "quoteCcy": "", "settleCcy": "USDT", "state": "live", "stk": "", "tickSz": "0.1",
    "uly": "BTC-USDT",
}  # fmt: skip
BYBIT_INSTRUMENT = {
    "symbol": "BTCUSDT", "contractType": "LinearPerpetual", "status": "Trading",
    "baseCoin": "BTC", "quoteCoin": "USDT", "launchTime": "1585526400000", "deliveryTime": "0",
    "deliveryFeeRate": "", "priceScale": "2",
    "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
    "priceFilter": {"minPrice": "0.10", "maxPrice": "199999.80", "tickSize": "0.10"},
    "lotSizeFilter": {
        "maxOrderQty": "1190.000", "minOrderQty": "0.001", "qtyStep": "0.001",
        "postOnlyMaxOrderQty": "1190.000", "maxMktOrderQty": "500.000", "minNotionalValue": "5",
    },
    "unifiedMarginTrade": True, "fundingInterval": 480, "settleCoin": "USDT",
    "copyTrading": "both", "upperFundingRate": "0.00375", "lowerFundingRate": "-0.00375",
}  # fmt: skip


def _bybit_market() -> dict[str, Any]:
    exchange = ccxt.bybit()
    answer = {"retCode": 0, "retMsg": "OK", "result": {"category": "linear", "list": [BYBIT_INSTRUMENT], "nextPageCursor": ""}, "time": 1}  # fmt: skip
    exchange.publicGetV5MarketInstrumentsInfo = lambda params=None: answer
    markets: list[dict[str, Any]] = exchange.fetch_future_markets({"category": "linear"})
    return next(m for m in markets if m["symbol"] == BTC)


def _spec(venue: str, market: dict[str, Any]) -> Any:
    raw = {
        "positions": [],
        "balance": {"info": {}, "USDT": {"total": 1000, "free": 1000}},
        "markets": {BTC: market},
    }
    return parse_snapshot(venue, "acct", AT, raw).snapshot.markets[BTC]


def test_market_when_binance_states_lot_and_market_lot_size_then_smaller_market_maximum() -> None:
    market = ccxt.binanceusdm().parse_market(BINANCE_SYMBOL)
    spec = _spec("binance", market)
    assert spec.max_order_amount == D(120)  # MARKET_LOT_SIZE.maxQty, below LOT_SIZE.maxQty 1000


def test_market_when_okx_states_max_market_size_in_contracts_then_base_units() -> None:
    market = ccxt.okx().parse_market(OKX_INSTRUMENT)
    spec = _spec("okx", market)
    assert spec.max_order_amount == D(120)  # maxMktSz 12000 contracts × ctVal 0.01 BTC


def test_market_when_bybit_states_max_market_order_qty_then_that_maximum() -> None:
    spec = _spec("bybit", _bybit_market())
    assert spec.max_order_amount == D(500)  # maxMktOrderQty, below maxOrderQty 1190


def test_plan_when_close_all_above_venue_maximum_then_sliced_below_it_with_own_ids() -> None:
    spec = _spec("binance", ccxt.binanceusdm().parse_market(BINANCE_SYMBOL))
    held = position(BTC, Side.LONG, "300.5", "60000", leverage="5")
    snap = snapshot([held], markets={BTC: spec})
    reduction = Reduction(
        PositionKey(BTC, Side.LONG), D("300.5"), ("r",), ("close",), ("s",), Execution()
    )
    planned = plan(
        Decision("acct", AT, (), (reduction,), (), GuardState()), snap, rules_for("binance")
    )
    sizes = [order.quantity for order in planned.orders]
    assert sum(sizes) == D("300.5") and max(sizes) <= D(120) and len(sizes) == 3
    assert len({order.client_order_id for order in planned.orders}) == 3
