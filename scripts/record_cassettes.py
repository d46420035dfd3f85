#!/usr/bin/env python
"""Record tests/gateway/cassettes/*.yaml against the project's own local stub venues.

The real ccxt code paths of guard.gateway.ccxt run against a stub HTTP server on 127.0.0.1 that
answers in each venue's wire format; vcrpy records the traffic. Bodies are built here from the
venues' documented formats, and, where ../shared/data/ccxt-static has a real recorded response
for the same endpoint, from that response, read at record time (nothing is copied verbatim into
the repository except as part of a recorded exchange). Nothing ever leaves 127.0.0.1.

Usage: .venv/bin/python scripts/record_cassettes.py [venue ...]
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aiohttp import web  # noqa: E402

from guard.gateway.base import OrderRejected  # noqa: E402
from guard.gateway.ccxt import CcxtGateway  # noqa: E402
from tests.gateway.cases import (  # noqa: E402
    CANARY_PRIVATE_KEY,
    CASES,
    CASSETTES,
    DYDX_WALLET,
    ENV,
    PORT,
    settings,
)
from tests.gateway.vcr_config import make_vcr  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "ccxt-static"
NOW_MS = 1_763_700_000_000  # 2025-11-21T04:40:00Z, fixed so the recordings are stable


def shared_response(exchange: str, method: str, description: str) -> Any:
    """The real recorded httpResponse of one ccxt static-test entry (read at record time)."""
    path = SHARED / exchange / "response.json"
    if not path.exists():
        raise SystemExit(f"{path} is missing: the recordings need ../shared/data/ccxt-static")
    data = json.loads(path.read_text())
    for entry in data["methods"][method]:
        if entry["description"] == description:
            return entry["httpResponse"]
    raise SystemExit(f"{path}: no {method} entry described {description!r}")


Route = Callable[[str, dict[str, list[str]], str], Any]


# ---------------------------------------------------------------------------------- binance


def binance_routes() -> dict[tuple[str, str], Route]:
    positions = shared_response(
        "binance", "fetchPositions", "Fetch linear positions without symbols"
    )
    account = shared_response(
        "binance", "fetchPositions", "Fetch linear positions using account endnpoint"
    )
    book = shared_response("binance", "fetchOrderBook", "swap orderbook")
    symbol = {
        "symbol": "BTCUSDT",
        "pair": "BTCUSDT",
        "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000,
        "onboardDate": 1569398400000,
        "status": "TRADING",
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": "BTC",
        "quoteAsset": "USDT",
        "marginAsset": "USDT",
        "pricePrecision": 2,
        "quantityPrecision": 3,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": ["PoW"],
        "triggerProtect": "0.0500",
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "maxMoveOrderLimit": 10000,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": "556.80",
                "maxPrice": "4529764",
                "tickSize": "0.10",
            },
            {"filterType": "LOT_SIZE", "stepSize": "0.001", "maxQty": "1000", "minQty": "0.001"},
            {
                "filterType": "MARKET_LOT_SIZE",
                "maxQty": "120",
                "stepSize": "0.001",
                "minQty": "0.001",
            },
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
            {"filterType": "MIN_NOTIONAL", "notional": "100"},
            {
                "filterType": "PERCENT_PRICE",
                "multiplierUp": "1.0500",
                "multiplierDown": "0.9500",
                "multiplierDecimal": "4",
            },
        ],
        "orderTypes": [
            "LIMIT",
            "MARKET",
            "STOP",
            "STOP_MARKET",
            "TAKE_PROFIT",
            "TAKE_PROFIT_MARKET",
            "TRAILING_STOP_MARKET",
        ],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
    }
    brackets = [
        {
            "symbol": "BTCUSDT",
            "notionalCoef": 1.0,
            "brackets": [
                {
                    "bracket": 1,
                    "initialLeverage": 125,
                    "notionalCap": 50000,
                    "notionalFloor": 0,
                    "maintMarginRatio": 0.004,
                    "cum": 0.0,
                },
                {
                    "bracket": 2,
                    "initialLeverage": 100,
                    "notionalCap": 250000,
                    "notionalFloor": 50000,
                    "maintMarginRatio": 0.005,
                    "cum": 50.0,
                },
                {
                    "bracket": 3,
                    "initialLeverage": 50,
                    "notionalCap": 3000000,
                    "notionalFloor": 250000,
                    "maintMarginRatio": 0.01,
                    "cum": 1300.0,
                },
                {
                    "bracket": 4,
                    "initialLeverage": 20,
                    "notionalCap": 20000000,
                    "notionalFloor": 3000000,
                    "maintMarginRatio": 0.025,
                    "cum": 46300.0,
                },
            ],
        },
    ]
    premium = [
        {
            "symbol": "BTCUSDT",
            "markPrice": "67502.68519858",
            "indexPrice": "67530.10204082",
            "estimatedSettlePrice": "67511.54171512",
            "lastFundingRate": "0.00010000",
            "interestRate": "0.00010000",
            "nextFundingTime": NOW_MS + 4_800_000,
            "time": NOW_MS,
        }
    ]

    def order(query: dict[str, list[str]], status: str) -> dict[str, Any]:
        qty = (query.get("quantity") or ["0.005"])[0]
        cid = (query.get("newClientOrderId") or query.get("origClientOrderId") or [""])[0]
        return {
            "orderId": 4087922045,
            "symbol": "BTCUSDT",
            "status": status,
            "clientOrderId": cid,
            "price": "0.00",
            "avgPrice": "67490.10",
            "origQty": qty,
            "executedQty": qty,
            "cumQty": qty,
            "cumQuote": "337.45050",
            "timeInForce": "GTC",
            "type": "MARKET",
            "reduceOnly": True,
            "closePosition": False,
            "side": (query.get("side") or ["SELL"])[0],
            "positionSide": "BOTH",
            "stopPrice": "0.00",
            "workingType": "CONTRACT_PRICE",
            "priceProtect": False,
            "origType": "MARKET",
            "priceMatch": "NONE",
            "selfTradePreventionMode": "NONE",
            "goodTillDate": 0,
            "updateTime": NOW_MS,
        }

    resting = {  # an operator's own take-profit, resting on the book
        **order({"newClientOrderId": ["web_tp_81c2"]}, "NEW"),
        "orderId": 4087900001,
        "type": "LIMIT",
        "origType": "LIMIT",
        "price": "72000.00",
        "avgPrice": "0.00",
        "executedQty": "0",
        "cumQty": "0",
        "cumQuote": "0",
        "origQty": "0.004",
        "reduceOnly": False,
        "timeInForce": "GTC",
        "side": "SELL",
    }

    return {
        ("GET", "/fapi/v1/exchangeInfo"): lambda q, b, _: {
            "timezone": "UTC",
            "serverTime": NOW_MS,
            "futuresType": "U_MARGINED",
            "rateLimits": [],
            "exchangeFilters": [],
            "assets": [],
            "symbols": [symbol],
        },
        ("GET", "/fapi/v2/positionRisk"): lambda q, b, _: positions,
        ("GET", "/fapi/v3/positionRisk"): lambda q, b, _: positions,
        ("GET", "/fapi/v1/leverageBracket"): lambda q, b, _: brackets,
        ("GET", "/fapi/v2/account"): lambda q, b, _: account,
        ("GET", "/fapi/v3/account"): lambda q, b, _: account,
        ("GET", "/fapi/v2/balance"): lambda q, b, _: [
            {
                "accountAlias": "SgsR",
                "asset": "USDT",
                "balance": account["totalWalletBalance"],
                "crossWalletBalance": account["totalCrossWalletBalance"],
                "crossUnPnl": account["totalCrossUnPnl"],
                "availableBalance": account["availableBalance"],
                "maxWithdrawAmount": account["maxWithdrawAmount"],
                "marginAvailable": True,
                "updateTime": NOW_MS,
            }
        ],
        ("GET", "/fapi/v1/premiumIndex"): lambda q, b, _: premium,
        ("GET", "/fapi/v1/depth"): lambda q, b, _: book,
        ("POST", "/fapi/v1/order"): lambda q, b, _: order(q, "FILLED"),
        ("GET", "/fapi/v1/order"): lambda q, b, _: order(q, "FILLED"),
        ("DELETE", "/fapi/v1/order"): lambda q, b, _: order(q, "FILLED"),
        ("GET", "/fapi/v1/openOrders"): lambda q, b, _: [resting],
    }


# ---------------------------------------------------------------------------------- bybit


def bybit_envelope(result: Any) -> dict[str, Any]:
    return {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": NOW_MS}


def bybit_routes() -> dict[tuple[str, str], Route]:
    instrument = {
        "symbol": "ETHUSDT",
        "contractType": "LinearPerpetual",
        "status": "Trading",
        "baseCoin": "ETH",
        "quoteCoin": "USDT",
        "launchTime": "1615766400000",
        "deliveryTime": "0",
        "deliveryFeeRate": "",
        "priceScale": "2",
        "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
        "priceFilter": {"minPrice": "0.01", "maxPrice": "199999.98", "tickSize": "0.01"},
        "lotSizeFilter": {
            "maxOrderQty": "7240.00",
            "minOrderQty": "0.01",
            "qtyStep": "0.01",
            "postOnlyMaxOrderQty": "7240.00",
            "maxMktOrderQty": "1500.00",
            "minNotionalValue": "5",
        },
        "unifiedMarginTrade": True,
        "fundingInterval": 480,
        "settleCoin": "USDT",
        "copyTrading": "both",
        "upperFundingRate": "0.005",
        "lowerFundingRate": "-0.005",
        "isPreListing": False,
        "preListingInfo": None,
        "riskParameters": {"priceLimitRatioX": "0.01", "priceLimitRatioY": "0.02"},
    }
    position = {
        "positionIdx": 2,
        "riskId": 11,
        "riskLimitValue": "900000",
        "symbol": "ETHUSDT",
        "side": "Sell",
        "size": "1.25",
        "avgPrice": "3012.4",
        "positionValue": "3765.5",
        "tradeMode": 0,
        "positionStatus": "Normal",
        "autoAddMargin": 0,
        "adlRankIndicator": 2,
        "leverage": "10",
        "positionBalance": "",
        "markPrice": "3031.92",
        "liqPrice": "3288.47",
        "bustPrice": "",
        "positionMM": "19.99749",
        "positionIM": "379.0325",
        "positionIMByMp": "",
        "positionMMByMp": "",
        "tpslMode": "Full",
        "takeProfit": "0",
        "stopLoss": "0",
        "trailingStop": "0",
        "unrealisedPnl": "-24.4",
        "curRealisedPnl": "-2.07",
        "cumRealisedPnl": "-15.3",
        "sessionAvgPrice": "",
        "createdTime": "1763600000000",
        "updatedTime": str(NOW_MS),
        "seq": 8172,
        "isReduceOnly": False,
        "mmrSysUpdatedTime": "",
        "leverageSysUpdatedTime": "",
    }
    wallet = {
        "list": [
            {
                "accountType": "UNIFIED",
                "accountIMRate": "0.0812",
                "accountMMRate": "0.0043",
                "totalEquity": "4650.12",
                "totalWalletBalance": "4674.52",
                "totalMarginBalance": "4650.12",
                "totalAvailableBalance": "4271.09",
                "totalPerpUPL": "-24.4",
                "totalInitialMargin": "379.03",
                "totalMaintenanceMargin": "19.99",
                "accountLTV": "0",
                "coin": [
                    {
                        "coin": "USDT",
                        "equity": "4650.12",
                        "usdValue": "4650.82",
                        "walletBalance": "4674.52",
                        "locked": "0",
                        "spotHedgingQty": "0",
                        "borrowAmount": "0",
                        "accruedInterest": "0",
                        "totalOrderIM": "0",
                        "totalPositionIM": "379.0325",
                        "totalPositionMM": "19.99749",
                        "unrealisedPnl": "-24.4",
                        "cumRealisedPnl": "-15.3",
                        "bonus": "0",
                        "marginCollateral": True,
                        "collateralSwitch": True,
                        "availableToWithdraw": "",
                    }
                ],
            }
        ]
    }
    tickers = {
        "category": "linear",
        "list": [
            {
                "symbol": "ETHUSDT",
                "lastPrice": "3031.80",
                "indexPrice": "3032.41",
                "markPrice": "3031.92",
                "prevPrice24h": "2990.10",
                "price24hPcnt": "0.0139",
                "highPrice24h": "3055.00",
                "lowPrice24h": "2980.11",
                "prevPrice1h": "3029.00",
                "openInterest": "512345.12",
                "openInterestValue": "1553380000.00",
                "turnover24h": "1000000000",
                "volume24h": "330000",
                "fundingRate": "0.0001",
                "nextFundingTime": str(NOW_MS + 4_800_000),
                "predictedDeliveryPrice": "",
                "basisRate": "",
                "deliveryFeeRate": "",
                "deliveryTime": "0",
                "ask1Size": "12.5",
                "bid1Price": "3031.79",
                "ask1Price": "3031.80",
                "bid1Size": "8.44",
                "basis": "",
                "fundingIntervalHour": "8",
                "fundingCap": "0.005",
            }
        ],
    }
    risk = {
        "category": "linear",
        "list": [
            {
                "id": 1,
                "symbol": "ETHUSDT",
                "riskLimitValue": "900000",
                "maintenanceMargin": "0.005",
                "initialMargin": "0.01",
                "isLowestRisk": 1,
                "maxLeverage": "100.00",
                "mmDeduction": "0",
            },
            {
                "id": 2,
                "symbol": "ETHUSDT",
                "riskLimitValue": "1650000",
                "maintenanceMargin": "0.0056",
                "initialMargin": "0.0111",
                "isLowestRisk": 0,
                "maxLeverage": "90.00",
                "mmDeduction": "540",
            },
        ],
    }
    book = {
        "s": "ETHUSDT",
        "b": [["3031.79", "8.44"], ["3031.70", "3.1"]],
        "a": [["3031.80", "12.5"], ["3031.95", "4.2"]],
        "ts": NOW_MS,
        "u": 889911,
        "seq": 7711,
        "cts": NOW_MS,
    }

    def order_row(body: str) -> dict[str, Any]:
        sent = json.loads(body) if body else {}
        return {
            "orderId": "1c2d3e4f-0000-4000-8000-000000000001",
            "orderLinkId": sent.get("orderLinkId", ""),
            "blockTradeId": "",
            "symbol": "ETHUSDT",
            "price": "3182.52",
            "qty": sent.get("qty", "0.53"),
            "side": "Buy",
            "isLeverage": "",
            "positionIdx": 2,
            "orderStatus": "Filled",
            "cancelType": "UNKNOWN",
            "rejectReason": "EC_NoError",
            "avgPrice": "3031.81",
            "leavesQty": "0",
            "leavesValue": "0",
            "cumExecQty": sent.get("qty", "0.53"),
            "cumExecValue": "1606.8593",
            "cumExecFee": "0.88377",
            "timeInForce": "IOC",
            "orderType": "Market",
            "stopOrderType": "",
            "orderIv": "",
            "triggerPrice": "",
            "takeProfit": "",
            "stopLoss": "",
            "tpTriggerBy": "",
            "slTriggerBy": "",
            "triggerDirection": 0,
            "triggerBy": "",
            "lastPriceOnCreated": "",
            "reduceOnly": True,
            "closeOnTrigger": False,
            "smpType": "None",
            "smpGroup": 0,
            "smpOrderId": "",
            "tpslMode": "",
            "tpLimitPrice": "",
            "slLimitPrice": "",
            "placeType": "",
            "createdTime": str(NOW_MS),
            "updatedTime": str(NOW_MS),
        }

    last_order: dict[str, str] = {}

    def create(q: dict[str, list[str]], body: str, _: str) -> Any:
        last_order["body"] = body
        sent = json.loads(body)
        return bybit_envelope(
            {
                "orderId": "1c2d3e4f-0000-4000-8000-000000000001",
                "orderLinkId": sent.get("orderLinkId", ""),
            }
        )

    def realtime(q: dict[str, list[str]], body: str, _: str) -> Any:
        if "orderLinkId" not in q:  # the open orders: an operator's resting limit order
            resting = {
                **order_row(""),
                "orderId": "9a8b7c6d-0000-4000-8000-000000000002",
                "orderLinkId": "web-tp-3c1f",
                "orderStatus": "New",
                "orderType": "Limit",
                "price": "2900.00",
                "qty": "0.40",
                "cumExecQty": "0",
                "avgPrice": "",
                "cumExecValue": "0",
                "cumExecFee": "0",
                "leavesQty": "0.40",
                "timeInForce": "GTC",
                "reduceOnly": False,
            }
            return bybit_envelope({"category": "linear", "nextPageCursor": "", "list": [resting]})
        return bybit_envelope(
            {
                "category": "linear",
                "nextPageCursor": "",
                "list": [order_row(last_order.get("body", ""))],
            }
        )

    return {
        ("GET", "/v5/market/instruments-info"): lambda q, b, _: bybit_envelope(
            {
                "category": "linear",
                "nextPageCursor": "",
                "list": [] if q.get("status") == ["PreLaunch"] else [instrument],
            }
        ),
        ("GET", "/v5/position/list"): lambda q, b, _: bybit_envelope(
            {
                "category": "linear",
                "list": [position] if q.get("settleCoin", ["USDT"]) == ["USDT"] else [],
                "nextPageCursor": "",
            }
        ),
        # docs/v5/account/account-info.mdx (bybit-exchange/docs): the UTA's margin mode
        ("GET", "/v5/account/info"): lambda q, b, _: bybit_envelope(
            {
                "marginMode": "REGULAR_MARGIN",
                "updatedTime": "1697078946000",
                "unifiedMarginStatus": 4,
                "dcpStatus": "OFF",
                "timeWindow": 10,
                "smpGroup": 0,
                "isMasterTrader": False,
                "spotHedgingStatus": "OFF",
            }
        ),
        ("GET", "/v5/account/wallet-balance"): lambda q, b, _: bybit_envelope(wallet),
        ("GET", "/v5/market/tickers"): lambda q, b, _: bybit_envelope(tickers),
        ("GET", "/v5/market/risk-limit"): lambda q, b, _: bybit_envelope(risk),
        ("GET", "/v5/market/orderbook"): lambda q, b, _: bybit_envelope(book),
        ("POST", "/v5/order/create"): create,
        ("GET", "/v5/order/realtime"): realtime,
        ("POST", "/v5/order/cancel"): lambda q, b, _: bybit_envelope(
            {
                "orderId": "1c2d3e4f-0000-4000-8000-000000000001",
                "orderLinkId": json.loads(b).get("orderLinkId", ""),
            }
        ),
    }


# ---------------------------------------------------------------------------------- okx


def okx_envelope(data: Any) -> dict[str, Any]:
    return {"code": "0", "msg": "", "data": data}


def okx_routes() -> dict[tuple[str, str], Route]:
    instrument = {
        "alias": "",
        "baseCcy": "",
        "category": "1",
        "ctMult": "1",
        "ctType": "linear",
        "ctVal": "0.01",
        "ctValCcy": "BTC",
        "expTime": "",
        "instFamily": "BTC-USDT",
        "instId": "BTC-USDT-SWAP",
        "instType": "SWAP",
        "lever": "100",
        "listTime": "1611916828000",
        "lotSz": "0.01",
        "maxIcebergSz": "100000000",
        "maxLmtAmt": "20000000",
        "maxLmtSz": "100000000",
        "maxMktAmt": "",
        "maxMktSz": "12000",
        "maxStopSz": "12000",
        "maxTriggerSz": "100000000",
        "maxTwapSz": "100000000",
        "minSz": "0.01",
        "optType": "",
        "quoteCcy": "",
        "settleCcy": "USDT",
        "state": "live",
        "stk": "",
        "tickSz": "0.1",
        "uly": "BTC-USDT",
        "ruleType": "normal",
    }
    position = {
        "adl": "1",
        "availPos": "50",
        "avgPx": "64210.3",
        "baseBal": "",
        "baseBorrowed": "",
        "baseInterest": "",
        "bePx": "64245.1",
        "bizRefId": "",
        "bizRefType": "",
        "cTime": "1763600000000",
        "ccy": "USDT",
        "clSpotInUseAmt": "",
        "closeOrderAlgo": [],
        "deltaBS": "",
        "deltaPA": "",
        "fee": "-0.16",
        "fundingFee": "-0.42",
        "gammaBS": "",
        "gammaPA": "",
        "idxPx": "64460.2",
        "imr": "",
        "instId": "BTC-USDT-SWAP",
        "instType": "SWAP",
        "interest": "",
        "last": "64452.1",
        "lever": "10",
        "liab": "",
        "liabCcy": "",
        "liqPenalty": "0",
        "liqPx": "58123.4",
        "margin": "321.05",
        "markPx": "64455.0",
        "maxSpotInUseAmt": "",
        "mgnMode": "isolated",
        "mgnRatio": "39.7",
        "mmr": "1.289",
        "notionalUsd": "322.3",
        "optVal": "",
        "pendingCloseOrdLiabVal": "",
        "pnl": "0",
        "pos": "50",
        "posCcy": "",
        "posId": "1752810569801498624",
        "posSide": "long",
        "quoteBal": "",
        "quoteBorrowed": "",
        "quoteInterest": "",
        "realizedPnl": "-0.58",
        "spotInUseAmt": "",
        "spotInUseCcy": "",
        "thetaBS": "",
        "thetaPA": "",
        "tradeId": "123",
        "uTime": str(NOW_MS),
        "upl": "1.2235",
        "uplLastPx": "1.209",
        "uplRatio": "0.0038",
        "uplRatioLastPx": "0.0037",
        "usdPx": "",
        "vegaBS": "",
        "vegaPA": "",
        "nonSettleAvgPx": "",
        "settledPnl": "",
    }
    balance = [
        {
            "adjEq": "",
            "borrowFroz": "",
            "details": [
                {
                    "availBal": "1180.2",
                    "availEq": "1180.2",
                    "borrowFroz": "",
                    "cashBal": "1501.25",
                    "ccy": "USDT",
                    "clSpotInUseAmt": "",
                    "crossLiab": "",
                    "disEq": "1501.9",
                    "eq": "1502.47",
                    "eqUsd": "1502.9",
                    "fixedBal": "0",
                    "frozenBal": "322.27",
                    "imr": "",
                    "interest": "",
                    "isoEq": "322.27",
                    "isoLiab": "",
                    "isoUpl": "1.2235",
                    "liab": "",
                    "maxLoan": "",
                    "mgnRatio": "",
                    "mmr": "",
                    "notionalLever": "",
                    "ordFrozen": "0",
                    "rewardBal": "",
                    "spotInUseAmt": "",
                    "spotIsoBal": "0",
                    "stgyEq": "0",
                    "twap": "0",
                    "uTime": str(NOW_MS),
                    "upl": "1.2235",
                    "uplLiab": "",
                }
            ],
            "imr": "",
            "isoEq": "322.27",
            "mgnRatio": "",
            "mmr": "",
            "notionalUsd": "",
            "ordFroz": "",
            "totalEq": "1502.9",
            "uTime": str(NOW_MS),
            "upl": "1.2235",
        }
    ]
    config = [
        {
            "acctLv": "2",
            "acctStpMode": "cancel_maker",
            "autoLoan": False,
            "ctIsoMode": "automatic",
            "enableSpotBorrow": False,
            "greeksType": "PA",
            "ip": "",
            "kycLv": "2",
            "label": "guard",
            "level": "Lv1",
            "levelTmp": "",
            "liquidationGctx": "",
            "mainUid": "44705892343619584",
            "mgnIsoMode": "automatic",
            "opAuth": "0",
            "perm": "read_only,trade",
            "posMode": "long_short_mode",
            "roleType": "0",
            "spotBorrowAutoRepay": False,
            "spotOffsetType": "",
            "spotRoleType": "0",
            "spotTraderInsts": [],
            "traderInsts": [],
            "type": "0",
            "uid": "44705892343619584",
        }
    ]
    funding = [
        {
            "formulaType": "withRate",
            "fundingRate": "0.0000791",
            "fundingTime": str(NOW_MS + 4_800_000),
            "impactValue": "",
            "instId": "BTC-USDT-SWAP",
            "instType": "SWAP",
            "interestRate": "0.0001",
            "maxFundingRate": "0.00375",
            "method": "current_period",
            "minFundingRate": "-0.00375",
            "nextFundingRate": "",
            "nextFundingTime": str(NOW_MS + 33_600_000),
            "premium": "-0.0000952",
            "settFundingRate": "0.0000686",
            "settState": "settled",
            "ts": str(NOW_MS),
        }
    ]
    tiers = [
        {
            "baseMaxLoan": "",
            "imr": "0.01",
            "instFamily": "BTC-USDT",
            "instId": "",
            "maxLever": "100",
            "maxSz": "1000",
            "minSz": "0",
            "mmr": "0.004",
            "optMgnFactor": "0",
            "quoteMaxLoan": "",
            "tier": "1",
            "uly": "BTC-USDT",
        },
        {
            "baseMaxLoan": "",
            "imr": "0.013",
            "instFamily": "BTC-USDT",
            "instId": "",
            "maxLever": "75",
            "maxSz": "6000",
            "minSz": "1000",
            "mmr": "0.005",
            "optMgnFactor": "0",
            "quoteMaxLoan": "",
            "tier": "2",
            "uly": "BTC-USDT",
        },
    ]
    book = [
        {
            "asks": [["64455.1", "221", "0", "12"], ["64455.5", "40", "0", "3"]],
            "bids": [["64455.0", "310", "0", "15"], ["64454.2", "18", "0", "2"]],
            "ts": str(NOW_MS),
        }
    ]
    sent: dict[str, Any] = {}

    def create(q: dict[str, list[str]], body: str, _: str) -> Any:
        order = json.loads(body)
        sent.update(order)
        return okx_envelope(
            [
                {
                    "clOrdId": order.get("clOrdId", ""),
                    "ordId": "1752810999999999999",
                    "sCode": "0",
                    "sMsg": "Order placed",
                    "tag": order.get("tag", ""),
                    "ts": str(NOW_MS),
                }
            ]
        )

    def fetch(q: dict[str, list[str]], body: str, _: str) -> Any:
        return okx_envelope(
            [
                {
                    "accFillSz": sent.get("sz", "12.34"),
                    "algoClOrdId": "",
                    "algoId": "",
                    "attachAlgoClOrdId": "",
                    "attachAlgoOrds": [],
                    "avgPx": "64454.9",
                    "cTime": str(NOW_MS),
                    "cancelSource": "",
                    "cancelSourceReason": "",
                    "category": "normal",
                    "ccy": "",
                    "clOrdId": (q.get("clOrdId") or [""])[0],
                    "fee": "-0.3977",
                    "feeCcy": "USDT",
                    "fillPx": "64454.9",
                    "fillSz": sent.get("sz", "12.34"),
                    "fillTime": str(NOW_MS),
                    "instId": "BTC-USDT-SWAP",
                    "instType": "SWAP",
                    "isTpLimit": "false",
                    "lever": "10",
                    "linkedAlgoOrd": {"algoId": ""},
                    "ordId": "1752810999999999999",
                    "ordType": "ioc",
                    "pnl": "2.9",
                    "posSide": "long",
                    "px": "64000.1",
                    "pxType": "",
                    "pxUsd": "",
                    "pxVol": "",
                    "quickMgnType": "",
                    "rebate": "0",
                    "rebateCcy": "USDT",
                    "reduceOnly": "true",
                    "side": "sell",
                    "slOrdPx": "",
                    "slTriggerPx": "",
                    "slTriggerPxType": "",
                    "source": "",
                    "state": "filled",
                    "stpId": "",
                    "stpMode": "cancel_maker",
                    "sz": sent.get("sz", "12.34"),
                    "tag": "",
                    "tdMode": "isolated",
                    "tgtCcy": "",
                    "tpOrdPx": "",
                    "tpTriggerPx": "",
                    "tpTriggerPxType": "",
                    "tradeId": "124",
                    "uTime": str(NOW_MS),
                }
            ]
        )

    return {
        ("GET", "/api/v5/public/instruments"): lambda q, b, _: okx_envelope([instrument]),
        ("GET", "/api/v5/account/positions"): lambda q, b, _: okx_envelope([position]),
        ("GET", "/api/v5/account/balance"): lambda q, b, _: okx_envelope(balance),
        ("GET", "/api/v5/account/config"): lambda q, b, _: okx_envelope(config),
        ("GET", "/api/v5/public/funding-rate"): lambda q, b, _: okx_envelope(funding),
        ("GET", "/api/v5/public/position-tiers"): lambda q, b, _: okx_envelope(tiers),
        ("GET", "/api/v5/market/books"): lambda q, b, _: okx_envelope(book),
        ("POST", "/api/v5/trade/order"): create,
        ("GET", "/api/v5/trade/order"): fetch,
        ("GET", "/api/v5/trade/orders-pending"): lambda q, b, _: okx_envelope(
            [
                {
                    **fetch({"clOrdId": ["webtp77a1"]}, "", "")["data"][0],
                    "ordId": "1752810888888888888",
                    "state": "live",
                    "ordType": "limit",
                    "px": "70000.0",
                    "sz": "10",
                    "accFillSz": "0",
                    "fillSz": "0",
                    "avgPx": "",
                    "fillPx": "",
                    "reduceOnly": "false",
                    "fee": "0",
                }
            ]
        ),
        ("POST", "/api/v5/trade/cancel-order"): lambda q, b, _: okx_envelope(
            [
                {
                    "clOrdId": json.loads(b).get("clOrdId", ""),
                    "ordId": "1752810999999999999",
                    "sCode": "0",
                    "sMsg": "",
                    "ts": str(NOW_MS),
                }
            ]
        ),
    }


# ---------------------------------------------------------------------------------- hyperliquid


def hyperliquid_routes() -> dict[tuple[str, str], Route]:
    state = shared_response("hyperliquid", "fetchPositions", "isolated short position")
    universe = [
        {"szDecimals": 5, "name": "BTC", "maxLeverage": 40, "marginTableId": 56},
        {"szDecimals": 4, "name": "ETH", "maxLeverage": 25, "marginTableId": 55},
        {"szDecimals": 2, "name": "HYPE", "maxLeverage": 10, "marginTableId": 10},
    ]
    ctxs = [
        {
            "funding": "0.0000125",
            "openInterest": "30000.1",
            "prevDayPx": "96000.0",
            "dayNtlVlm": "1500000000.0",
            "premium": "0.0001",
            "oraclePx": "96012.0",
            "markPx": "96020.0",
            "midPx": "96019.5",
            "impactPxs": ["96019.0", "96020.0"],
            "dayBaseVlm": "15600.0",
        },
        {
            "funding": "0.0000125",
            "openInterest": "600000.1",
            "prevDayPx": "3100.0",
            "dayNtlVlm": "800000000.0",
            "premium": "0.0001",
            "oraclePx": "3101.2",
            "markPx": "3101.5",
            "midPx": "3101.45",
            "impactPxs": ["3101.4", "3101.5"],
            "dayBaseVlm": "250000.0",
        },
        {
            "funding": "0.0000234",
            "openInterest": "12000000.0",
            "prevDayPx": "37.9",
            "dayNtlVlm": "300000000.0",
            "premium": "0.00012",
            "oraclePx": "38.49",
            "markPx": "38.516",
            "midPx": "38.5155",
            "impactPxs": ["38.512", "38.519"],
            "dayBaseVlm": "7900000.0",
        },
    ]
    meta = {
        "universe": universe,
        "marginTables": [
            [10, {"description": "", "marginTiers": [{"lowerBound": "0.0", "maxLeverage": 10}]}],
            # HL docs trading/margin-tiers.md (mainnet): ETH 0-100M 25x, above 15x; BTC 0-150M
            # 40x, above 20x
            [
                55,
                {
                    "description": "tiered 15x",
                    "marginTiers": [
                        {"lowerBound": "0.0", "maxLeverage": 25},
                        {"lowerBound": "100000000.0", "maxLeverage": 15},
                    ],
                },
            ],
            [
                56,
                {
                    "description": "tiered 20x",
                    "marginTiers": [
                        {"lowerBound": "0.0", "maxLeverage": 40},
                        {"lowerBound": "150000000.0", "maxLeverage": 20},
                    ],
                },
            ],
        ],
    }
    book = {
        "coin": "HYPE",
        "time": NOW_MS,
        "levels": [
            [{"px": "38.512", "sz": "410.2", "n": 7}, {"px": "38.511", "sz": "95.0", "n": 2}],
            [{"px": "38.519", "sz": "388.0", "n": 5}, {"px": "38.52", "sz": "120.5", "n": 3}],
        ],
    }
    created = shared_response("hyperliquid", "createOrder", "create order")
    placed: dict[str, Any] = {}

    def info(q: dict[str, list[str]], body: str, _: str) -> Any:
        request = json.loads(body)
        kind = request.get("type")
        if kind == "metaAndAssetCtxs":
            return [meta, ctxs]
        if kind == "meta":
            return meta
        if kind == "clearinghouseState" and request.get("dex"):
            return {  # a HIP-3 DEX's own clearinghouse: nothing held there
                "assetPositions": [],
                "crossMaintenanceMarginUsed": "0.0",
                "crossMarginSummary": {
                    "accountValue": "0.0",
                    "totalMarginUsed": "0.0",
                    "totalNtlPos": "0.0",
                    "totalRawUsd": "0.0",
                },
                "marginSummary": {
                    "accountValue": "0.0",
                    "totalMarginUsed": "0.0",
                    "totalNtlPos": "0.0",
                    "totalRawUsd": "0.0",
                },
                "time": NOW_MS,
                "withdrawable": "0.0",
            }
        if kind == "clearinghouseState":
            return state
        if kind == "userAbstraction":  # info endpoint: "query a user's abstraction state"
            return "default"
        if kind == "perpDexs":  # index 0 is the first perp DEX (null), then HIP-3 DEXes
            return [None, {"name": "xyz", "fullName": "XYZ", "deployer": "0x" + "22" * 20}]
        if kind == "l2Book":
            return book
        if kind in ("frontendOpenOrders", "openOrders"):
            return [
                {
                    "coin": "HYPE",
                    "side": "A",
                    "limitPx": "31.0",
                    "sz": "2.0",
                    "oid": 296683650000,
                    "timestamp": NOW_MS - 60_000,
                    "triggerCondition": "N/A",
                    "isTrigger": False,
                    "triggerPx": "0.0",
                    "children": [],
                    "isPositionTpsl": False,
                    "reduceOnly": True,
                    "orderType": "Limit",
                    "origSz": "2.0",
                    "tif": "Gtc",
                    "cloid": None,
                }
            ]
        if kind == "orderStatus":
            order = placed.get("order", {})
            return {
                "status": "order",
                "order": {
                    "order": {
                        "coin": "HYPE",
                        "side": "B",
                        "limitPx": order.get("p", "39.5"),
                        "sz": "0.0",
                        "oid": 296683658819,
                        "timestamp": NOW_MS,
                        "triggerCondition": "N/A",
                        "isTrigger": False,
                        "triggerPx": "0.0",
                        "children": [],
                        "isPositionTpsl": False,
                        "reduceOnly": True,
                        "orderType": "Limit",
                        "origSz": order.get("s", "1.23"),
                        "tif": "Ioc",
                        "cloid": order.get("c"),
                    },
                    "status": "filled",
                    "statusTimestamp": NOW_MS,
                },
            }
        raise KeyError(f"unhandled hyperliquid info type {kind}")

    def exchange(q: dict[str, list[str]], body: str, _: str) -> Any:
        request = json.loads(body)
        action = request.get("action", {})
        if action.get("type") == "cancelByCloid":
            return {
                "status": "ok",
                "response": {
                    "type": "cancel",
                    "data": {
                        "statuses": [
                            {"error": "Order was never placed, already canceled, or filled."}
                        ]
                    },
                },
            }
        if action.get("type") != "order":
            raise KeyError(f"unexpected hyperliquid action {action.get('type')}")
        placed["order"] = action["orders"][0]
        answer = json.loads(json.dumps(created))
        fill = answer["response"]["data"]["statuses"][0]["filled"]
        fill["totalSz"] = action["orders"][0]["s"]
        return answer

    return {("POST", "/info"): info, ("POST", "/exchange"): exchange}


# ---------------------------------------------------------------------------------- dydx


def dydx_routes() -> dict[tuple[str, str], Route]:
    markets = shared_response("dydx", "fetchMarkets", "fetchMarkets")
    positions = shared_response("dydx", "fetchPositions", "fetchPositions")
    balance = shared_response("dydx", "fetchBalance", "fetchBalance")
    book = shared_response("dydx", "fetchOrderBook", "fetchOrderBook")
    fetched = shared_response("dydx", "fetchOrder", "fetchOrder")
    placed: dict[str, Any] = {}

    def orders(q: dict[str, list[str]], body: str, _: str) -> Any:
        if q.get("status") == ["OPEN"]:
            return []
        order = json.loads(json.dumps(fetched))
        order.update(
            {
                "clientId": placed.get("clientId", "1"),
                "side": "BUY",
                "size": "0.1234",
                "totalFilled": "0.1234",
                "price": "120000",
                "type": "LIMIT",
                "status": "FILLED",
                "timeInForce": "IOC",
                "reduceOnly": True,
                "clobPairId": "0",
                "ticker": "BTC-USD",
            }
        )
        return [order]

    def broadcast(q: dict[str, list[str]], body: str, path: str) -> Any:
        placed["clientId"] = str(decode_dydx_order(q["tx"][0]).order.order_id.client_id)
        return {
            "jsonrpc": "2.0",
            "id": -1,
            "result": {
                "code": 0,
                "data": "",
                "log": "[]",
                "codespace": "",
                "hash": "CBEDB0603E57E5CE21FA6954770A9403D2A81BED02E608C860356152D0AA1A81",
            },
        }

    from coincurve import PrivateKey

    public = PrivateKey(bytes.fromhex(CANARY_PRIVATE_KEY[2:])).public_key.format(compressed=True)
    account = {
        "info": {
            "address": DYDX_WALLET,
            "pub_key": {
                "type_url": "/cosmos.crypto.secp256k1.PubKey",
                "key": base64.b64encode(public).decode(),
            },
            "account_number": "33",
            "sequence": "7",
        }
    }
    abci = {
        "jsonrpc": "2.0",
        "id": -1,
        "result": {
            "response": {
                "data": "dydxprotocol",
                "version": "9.1.0",
                "last_block_height": "45103100",
                "last_block_app_hash": "q83vEjRWeJCrze8SNFZ4kA==",
            }
        },
    }

    return {
        ("GET", "/v4/perpetualMarkets"): lambda q, b, _: markets,
        ("GET", f"/v4/addresses/{DYDX_WALLET}/subaccountNumber/0"): lambda q, b, _: balance,
        # GET /v4/addresses/{address} (docs.dydx.xyz indexer-client http "Get Subaccounts"):
        # subaccount 0 (cross, flat here) and child 128 holding the isolated BTC-USD short
        ("GET", f"/v4/addresses/{DYDX_WALLET}"): lambda q, b, _: {
            "subaccounts": [
                balance["subaccount"],
                {
                    **balance["subaccount"],
                    "subaccountNumber": 128,
                    "equity": "9000",
                    "freeCollateral": "8000",
                    "openPerpetualPositions": {
                        "BTC-USD": {**positions["positions"][0], "subaccountNumber": 128}
                    },
                },
            ],
            "totalTradingRewards": "0",
        },
        ("GET", "/v4/orders/parentSubaccountNumber"): orders,
        ("GET", "/v4/perpetualPositions"): lambda q, b, _: positions,
        ("GET", "/v4/orderbooks/perpetualMarket/BTC-USD"): lambda q, b, _: book,
        ("GET", "/v4/height"): lambda q, b, _: {
            "height": "45103100",
            "time": "2025-11-21T04:40:00.000Z",
        },
        ("GET", f"/cosmos/auth/v1beta1/account_info/{DYDX_WALLET}"): lambda q, b, _: account,
        ("GET", "/abci_info"): lambda q, b, _: abci,
        ("GET", "/broadcast_tx_sync"): broadcast,
        ("POST", "/broadcast_tx_sync"): broadcast,
        ("GET", "/v4/orders"): orders,
    }


def decode_dydx_order(tx_hex: str) -> Any:
    """The MsgPlaceOrder inside a signed dYdX transaction (hex, as ccxt broadcasts it)."""
    from ccxt.static_dependencies.dydx_v4_client.cosmos.tx.v1beta1 import tx_pb2
    from ccxt.static_dependencies.dydx_v4_client.dydxprotocol.clob import tx_pb2 as clob

    raw = tx_pb2.TxRaw()
    raw.ParseFromString(bytes.fromhex(tx_hex.removeprefix("0x")))
    body = tx_pb2.TxBody()
    body.ParseFromString(raw.body_bytes)
    message = clob.MsgPlaceOrder()
    message.ParseFromString(body.messages[0].value)
    return message


ROUTES: dict[str, Callable[[], dict[tuple[str, str], Route]]] = {
    "binance": binance_routes,
    "bybit": bybit_routes,
    "okx": okx_routes,
    "hyperliquid": hyperliquid_routes,
    "dydx": dydx_routes,
}


@dataclass(frozen=True)
class Reply:
    """A non-200 answer of a stub route."""

    status: int
    payload: Any


# Binance's answer to a reduce-only order when the position is already gone (error -2022)
REDUCE_ONLY_REJECTED = Reply(400, {"code": -2022, "msg": "ReduceOnly Order is rejected."})


class Stub:
    """One venue's stub API: the first path segment is the ccxt url key, the rest the real path."""

    def __init__(self, routes: dict[tuple[str, str], Route]) -> None:
        self.routes = routes
        self.unhandled: list[str] = []

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.text()
        path = (
            "/" + request.path.lstrip("/").split("/", 1)[1]
            if request.path.count("/") > 1
            else request.path
        )
        route = self.routes.get((request.method, path))
        if route is None:
            self.unhandled.append(f"{request.method} {request.path_qs}")
            return web.json_response(
                {"error": f"stub has no route {request.method} {path}"}, status=404
            )
        query = parse_qs(request.query_string)
        answer = route(query, body, path)
        if isinstance(answer, Reply):
            return web.json_response(answer.payload, status=answer.status)
        return web.json_response(answer)


async def record(venue: str, actions: tuple[str, ...]) -> None:
    stub = Stub(ROUTES[venue]())
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", stub.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", PORT)
    await site.start()
    case = CASES[venue]
    try:
        for action in actions:
            path = CASSETTES / f"{venue}_{action}.yaml"
            path.unlink(missing_ok=True)
            gateway = CcxtGateway(venue, [case.config()], settings=settings(), environ=ENV)
            try:
                with make_vcr(record_mode="all").use_cassette(str(path)):
                    if action == "rejected":
                        stub.routes[("POST", "/fapi/v1/order")] = lambda q, b, _: (
                            REDUCE_ONLY_REJECTED
                        )
                        snapshot = await gateway.fetch_snapshot(case.account)
                        positions = len(snapshot.positions)
                        try:
                            await gateway.create_order(case.plan())
                            raise SystemExit("the stub's -2022 answer was not a rejection")
                        except OrderRejected as error:
                            print(f"  rejected as expected: {error}")
                    elif action == "snapshot":
                        raw = await gateway.raw_snapshot(case.account)
                        positions = len(raw["positions"])
                    else:
                        snapshot = await gateway.fetch_snapshot(case.account)
                        positions = len(snapshot.positions)
                        plan = case.plan()
                        await gateway.create_order(plan)
                        await gateway.fetch_order(case.account, case.symbol, plan.client_order_id)
                        await gateway.fetch_open_orders(case.account)
                        await gateway.cancel_order(case.account, case.symbol, plan.client_order_id)
            finally:
                await gateway.close()
            print(f"recorded {path.relative_to(ROOT)} ({positions} position(s))")
    finally:
        await runner.cleanup()
    if stub.unhandled:
        raise SystemExit(f"{venue}: the stub had no route for: " + "; ".join(stub.unhandled))


def main(argv: list[str]) -> None:
    actions = ("snapshot", "order")
    if argv[:1] == ["--snapshot-only"]:
        actions, argv = ("snapshot",), argv[1:]
    for venue in argv or list(ROUTES):
        extra = ("rejected",) if venue == "binance" and "order" in actions else ()
        asyncio.run(record(venue, actions + extra))


if __name__ == "__main__":
    main(sys.argv[1:])
