"""Bybit v5 (linear USDT perpetuals, unified account) in the venue lab: the /v5 market, position,
account and order endpoints ccxt calls, in Bybit's envelope {retCode, retMsg, result}, with its
order rules (tickSize, qtyStep, min/max qty, minNotionalValue, reduce-only, positionIdx in hedge
mode, unique orderLinkId) and HMAC request signatures. Not pure (the shared book). Sources:
venues.md §5.4 ([BY-docs] docs/v5/order/create-order.mdx, market/instrument.mdx) and the v5
"Authentication" and "Error Codes" pages (retCodes as in ccxt's bybit table)."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from decimal import Decimal
from typing import Any

from guard.core.domain import MarketSpec
from guard.lab.venue_lab import bybit_trade as trade
from guard.lab.venue_lab import candles
from guard.lab.venue_lab import funding_history as funding
from guard.lab.venue_lab.book import LabAccount
from guard.lab.venue_lab.server import Call, Rejected
from guard.lab.venue_lab.views import fmt

VENUE = "bybit"
RECV_WINDOW_MS = 5000
OPERATIONS = {
    "/v5/order/create": "create_order",
    "/v5/order/realtime": "fetch_order",
    "/v5/order/history": "fetch_order",
    "/v5/order/cancel": "cancel_order",
    "/v5/position/list": "positions",
    "/v5/account/wallet-balance": "account",
    "/v5/market/instruments-info": "markets",
}


def envelope(result: Any, call: Call) -> dict[str, Any]:
    return {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": call.now_ms}


def error(code: int, msg: str, rule: str = "", detail: str = "") -> Rejected:
    """Bybit answers refusals with HTTP 200 and a non-zero retCode."""
    body = {"retCode": code, "retMsg": msg, "result": {}, "retExtInfo": {}, "time": 0}
    return Rejected(200, body, rule or str(code), detail or msg)


class Bybit:
    """The Bybit v5 REST surface of the lab."""

    name = VENUE

    def operation(self, call: Call) -> tuple[str, int]:
        return OPERATIONS.get(call.path, call.path), 1

    async def handle(self, call: Call) -> Any:
        public = {
            "/v5/market/instruments-info": self.instruments,
            "/v5/market/tickers": self.tickers,
            "/v5/market/orderbook": self.orderbook,
            "/v5/market/risk-limit": self.risk_limit,
            "/v5/market/time": self.server_time,
            "/v5/market/mark-price-kline": self.mark_kline,
        }
        if call.path in public:
            return envelope(public[call.path](call), call)
        account = self.authenticate(call)
        params = {**call.query, **(call.json() if call.method == "POST" and call.body else {})}
        if params.get("category", "linear") != "linear":
            raise error(10001, "params error: category must be linear (the lab serves linear)")
        specs = self.specs(call)
        if call.path == "/v5/order/create" and call.method == "POST":
            return envelope(await trade.create(call, account, params, specs), call)
        handlers = {
            ("GET", "/v5/position/list"): trade.positions,
            ("GET", "/v5/account/wallet-balance"): trade.wallet,
            ("GET", "/v5/order/realtime"): trade.realtime,
            ("GET", "/v5/order/history"): trade.history,
            ("POST", "/v5/order/cancel"): trade.cancel,
            ("GET", "/v5/account/info"): trade.account_info,
            ("GET", "/v5/position/switch-mode"): trade.account_info,
            ("GET", "/v5/account/transaction-log"): funding.bybit_transaction_log,
        }
        handler = handlers.get((call.method, call.path))
        if handler is None:
            raise Rejected(404, {"retCode": 10001, "retMsg": f"venue lab: {call.path} not served"})
        return envelope(handler(call, account, params, specs), call)

    def server_time(self, call: Call) -> Any:
        return {"timeSecond": str(call.now_ms // 1000), "timeNano": str(call.now_ms * 10**6)}

    def authenticate(self, call: Call) -> LabAccount:
        """X-BAPI-API-KEY, X-BAPI-TIMESTAMP within X-BAPI-RECV-WINDOW, X-BAPI-SIGN = hex
        HMAC-SHA256(secret, timestamp + key + recvWindow + query string or JSON body)."""
        key = call.headers.get("X-BAPI-API-KEY", "")
        account = call.book.account(VENUE, key) if key else None
        if account is None:
            raise error(10003, "API key is invalid.", "signature", "unknown key")
        stamp = call.headers.get("X-BAPI-TIMESTAMP", "")
        window = call.headers.get("X-BAPI-RECV-WINDOW", str(RECV_WINDOW_MS))
        if not stamp.isdigit() or abs(int(stamp) - int(time.time() * 1000)) > int(window):
            raise error(
                10002,
                "invalid request, please check your server timestamp or recv_window param",
                "timestamp",
                stamp,
            )
        sign = call.headers.get("X-BAPI-SIGN", "")
        if not re.fullmatch(r"[0-9a-f]{64}", sign):
            raise error(10004, "error sign! ", "signature", "X-BAPI-SIGN is not 64 hex")
        if account.secret is not None:
            payload = (
                stamp + key + window + (call.body if call.method == "POST" else call.raw_query)
            )
            expected = hmac.new(account.secret.encode(), payload.encode(), hashlib.sha256)
            if not hmac.compare_digest(expected.hexdigest(), sign):
                raise error(10004, "error sign! ", "signature", "HMAC mismatch")
        return account

    # ----- markets --------------------------------------------------------------------------
    def mark_kline(self, call: Call) -> Any:
        return candles.bybit_mark_kline(call, self.specs(call))

    def specs(self, call: Call) -> dict[str, MarketSpec]:
        return {spec.base + "USDT": spec for spec in call.book.paper.markets.values()}

    def instruments(self, call: Call) -> Any:
        rows = []
        for market_id, spec in sorted(self.specs(call).items()):
            top = spec.tiers[0].max_leverage if spec.tiers else Decimal(100)
            rows.append(
                {
                    "symbol": market_id,
                    "contractType": "LinearPerpetual",
                    "status": "Trading",
                    "baseCoin": spec.base,
                    "quoteCoin": "USDT",
                    "settleCoin": "USDT",
                    "launchTime": "1585526400000",
                    "deliveryTime": "0",
                    "deliveryFeeRate": "",
                    "priceScale": str(trade.places(spec.price_tick)),
                    "leverageFilter": {
                        "minLeverage": "1",
                        "maxLeverage": fmt(top),
                        "leverageStep": "0.01",
                    },
                    "priceFilter": {
                        "minPrice": fmt(spec.price_tick),
                        "maxPrice": "1999999.8",
                        "tickSize": fmt(spec.price_tick),
                    },
                    "lotSizeFilter": {
                        "maxOrderQty": fmt(trade.max_qty(spec)),
                        "minOrderQty": fmt(spec.min_amount or spec.amount_step),
                        "qtyStep": fmt(spec.amount_step),
                        "postOnlyMaxOrderQty": fmt(trade.max_qty(spec)),
                        "maxMktOrderQty": fmt(trade.max_market_qty(spec)),
                        "minNotionalValue": fmt(spec.min_notional),
                    },
                    "unifiedMarginTrade": True,
                    "fundingInterval": int(spec.funding_interval.total_seconds() // 60),
                    "copyTrading": "both",
                    "upperFundingRate": "0.005",
                    "lowerFundingRate": "-0.005",
                    "isPreListing": False,
                    "preListingInfo": None,
                }
            )
        return {"category": "linear", "list": rows, "nextPageCursor": ""}

    def tickers(self, call: Call) -> Any:
        rows = []
        for market_id, spec in sorted(self.specs(call).items()):
            if call.query.get("symbol") not in (None, market_id):
                continue
            mark = trade.mark(call, spec.symbol)
            rate, next_time = call.book.paper._funding_now(spec.symbol)
            bid, ask = trade.touch(call, spec, mark)
            rows.append(
                {
                    "symbol": market_id,
                    "lastPrice": fmt(mark),
                    "indexPrice": fmt(mark),
                    "markPrice": fmt(mark),
                    "prevPrice24h": fmt(mark),
                    "price24hPcnt": "0",
                    "highPrice24h": fmt(mark),
                    "lowPrice24h": fmt(mark),
                    "openInterest": "1000",
                    "turnover24h": "0",
                    "volume24h": "0",
                    "fundingRate": fmt(rate or Decimal(0)),
                    "nextFundingTime": str(int(next_time.timestamp() * 1000) if next_time else 0),
                    "bid1Price": fmt(bid),
                    "bid1Size": "1",
                    "ask1Price": fmt(ask),
                    "ask1Size": "1",
                    "fundingIntervalHour": str(int(spec.funding_interval.total_seconds() // 3600)),
                }
            )
        return {"category": "linear", "list": rows}

    def orderbook(self, call: Call) -> Any:
        spec = self.specs(call).get(call.query.get("symbol", ""))
        if spec is None:
            raise error(10001, "params error: symbol invalid", "symbol")
        mark = trade.mark(call, spec.symbol)
        bids, asks = trade.levels(call, spec, mark, int(call.query.get("limit") or 5))
        return {
            "s": spec.base + "USDT",
            "b": bids,
            "a": asks,
            "ts": call.now_ms,
            "u": call.now_ms,
            "seq": call.now_ms,
            "cts": call.now_ms,
        }

    def risk_limit(self, call: Call) -> Any:
        rows = []
        for market_id, spec in sorted(self.specs(call).items()):
            if call.query.get("symbol") not in (None, market_id):
                continue
            for index, tier in enumerate(spec.tiers, start=1):
                cap = tier.notional_cap if tier.notional_cap.is_finite() else Decimal(10) ** 10
                rows.append(
                    {
                        "id": index,
                        "symbol": market_id,
                        "riskLimitValue": fmt(cap),
                        "maintenanceMargin": fmt(tier.maintenance_rate),
                        "initialMargin": fmt(1 / (tier.max_leverage or Decimal(1))),
                        "isLowestRisk": 1 if index == 1 else 0,
                        "maxLeverage": fmt(tier.max_leverage or Decimal(1)),
                        "mmDeduction": fmt(tier.maintenance_deduction),
                    }
                )
        return {"category": "linear", "list": rows}
