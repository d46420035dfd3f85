"""Binance USDⓈ-M futures in the venue lab: the /fapi endpoints binanceusdm calls, in Binance's
wire format, with its order filters, reduce-only, position-side and client-id rules, HMAC request
signatures and request weights. Not pure (the shared book). Sources: venues.md §4.4 ([BN-api]
"New Order (TRADE)", [BN-failed] "Summary of Failed Orders") and Binance's USDⓈ-M "Error Codes"
page (developers.binance.com/docs/derivatives/usds-margined-futures/error-code)."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

from guard.core.domain import MarketSpec
from guard.lab.venue_lab import binance_trade as trade
from guard.lab.venue_lab import candles
from guard.lab.venue_lab import funding_history as funding
from guard.lab.venue_lab.book import LabAccount
from guard.lab.venue_lab.server import Call, Rejected
from guard.lab.venue_lab.streams import listen_key
from guard.lab.venue_lab.views import fmt

VENUE = "binance"
MULTI_ASSETS = "MULTI_ASSETS"  # a lab mode: multi-assets margin (multiAssetsMargin true)
RECV_WINDOW_MS = 5000  # Binance's default recvWindow; -1021 outside it [BN-api]
MARKET_MAX_FACTOR = Decimal("0.12")  # MARKET_LOT_SIZE.maxQty = 12 % of LOT_SIZE.maxQty (BTCUSDT)
LOT_MAX = {"BTC": Decimal(1000), "ETH": Decimal(10000), "SOL": Decimal(1000000)}

# request weights (Binance USDⓈ-M REST pages, "Request Weight")
WEIGHTS = {
    "/fapi/v1/exchangeInfo": 1,
    "/fapi/v2/positionRisk": 5,
    "/fapi/v3/positionRisk": 5,
    "/fapi/v2/account": 5,
    "/fapi/v3/account": 5,
    "/fapi/v2/balance": 5,
    "/fapi/v3/balance": 5,
    "/fapi/v1/leverageBracket": 1,
    "/fapi/v1/premiumIndex": 1,
    "/fapi/v1/depth": 2,
    "/fapi/v1/order": 1,
    "/fapi/v1/openOrders": 1,
    "/fapi/v1/time": 1,
    "/fapi/v1/positionSide/dual": 30,
    "/fapi/v1/multiAssetsMargin": 30,
}
OPERATIONS = {
    ("POST", "/fapi/v1/order"): "create_order",
    ("GET", "/fapi/v1/order"): "fetch_order",
    ("DELETE", "/fapi/v1/order"): "cancel_order",
    ("GET", "/fapi/v1/openOrders"): "open_orders",
    ("GET", "/fapi/v2/positionRisk"): "positions",
    ("GET", "/fapi/v3/positionRisk"): "positions",
    ("GET", "/fapi/v2/account"): "account",
    ("GET", "/fapi/v3/account"): "account",
    ("GET", "/fapi/v1/exchangeInfo"): "markets",
}


def error(code: int, msg: str, status: int = 400, rule: str = "", detail: str = "") -> Rejected:
    return Rejected(status, {"code": code, "msg": msg}, rule or str(code), detail or msg)


class Binance:
    """The Binance USDⓈ-M REST surface of the lab."""

    name = VENUE

    def operation(self, call: Call) -> tuple[str, int]:
        weight = WEIGHTS.get(call.path, 1)
        if call.path == "/fapi/v1/openOrders" and "symbol" not in call.query:
            weight = 40
        if call.path == "/fapi/v1/premiumIndex" and "symbol" not in call.query:
            weight = 10
        return OPERATIONS.get((call.method, call.path), call.path), weight

    async def handle(self, call: Call) -> Any:
        route = (call.method, call.path)
        public = {
            ("GET", "/fapi/v1/exchangeInfo"): self.exchange_info,
            ("GET", "/fapi/v1/premiumIndex"): self.premium_index,
            ("GET", "/fapi/v1/depth"): self.depth,
            ("GET", "/fapi/v1/time"): self.server_time,
            ("GET", "/fapi/v1/markPriceKlines"): self.mark_klines,
            ("GET", "/fapi/v1/fundingRate"): funding.binance_funding_rate,
        }
        if route in public:
            return public[route](call)
        if call.path == "/fapi/v1/listenKey":  # API key only, no signature (Binance docs)
            account = call.book.account(VENUE, call.headers.get("X-MBX-APIKEY", ""))
            if account is None:
                raise error(-2015, "Invalid API-key, IP, or permissions for action.", 401)
            return {"listenKey": listen_key(account.key)} if call.method != "DELETE" else {}
        account, params = self.authenticate(call)
        private = {
            ("GET", "/fapi/v2/positionRisk"): self.position_risk,
            ("GET", "/fapi/v3/positionRisk"): self.position_risk,
            ("GET", "/fapi/v2/account"): self.account,
            ("GET", "/fapi/v3/account"): self.account,
            ("GET", "/fapi/v2/balance"): self.balance,
            ("GET", "/fapi/v3/balance"): self.balance,
            ("GET", "/fapi/v1/leverageBracket"): self.brackets,
            ("GET", "/fapi/v1/order"): self.get_order,
            ("DELETE", "/fapi/v1/order"): self.cancel_order,
            ("GET", "/fapi/v1/openOrders"): self.open_orders,
            ("GET", "/fapi/v1/positionSide/dual"): self.position_mode,
            ("GET", "/fapi/v1/multiAssetsMargin"): self.asset_mode,
            ("GET", "/fapi/v1/income"): funding.binance_income,
        }
        if route == ("POST", "/fapi/v1/order"):
            return await self.new_order(call, account, params)
        handler = private.get(route)
        if handler is None:
            raise error(-1000, f"venue lab: {call.method} {call.path} is not served", 404)
        return handler(call, account, params)

    def server_time(self, call: Call) -> Any:
        return {"serverTime": call.now_ms}

    def mark_klines(self, call: Call) -> Any:
        return candles.binance_mark_klines(call, self.specs(call))

    def position_mode(self, call: Call, account: LabAccount, params: dict[str, str]) -> Any:
        return {"dualSidePosition": account.hedge_mode}  # GET /fapi/v1/positionSide/dual

    def asset_mode(self, call: Call, account: LabAccount, params: dict[str, str]) -> Any:
        # GET /fapi/v1/multiAssetsMargin [BN-api; venues.md §10]: single-asset unless the lab
        # account's mode is MULTI_ASSETS
        return {"multiAssetsMargin": account.mode == MULTI_ASSETS}

    # ----- authentication -------------------------------------------------------------------
    def authenticate(self, call: Call) -> tuple[LabAccount, dict[str, str]]:
        """API key header, HMAC-SHA256 signature over the parameters, timestamp in recvWindow."""
        key = call.headers.get("X-MBX-APIKEY", "")
        if not key:
            raise error(-2014, "API-key format invalid.", 401)
        account = call.book.account(VENUE, key)
        if account is None:
            raise error(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        signed = call.body if "signature=" in call.body else call.raw_query
        params = {**call.query, **call.form()}
        payload, _, signature = signed.rpartition("&signature=")
        if not re.fullmatch(r"[0-9a-f]{64}", signature):
            raise error(-1022, "Signature for this request is not valid.", 400, "signature")
        if account.secret is not None:
            expected = hmac.new(account.secret.encode(), payload.encode(), hashlib.sha256)
            if not hmac.compare_digest(expected.hexdigest(), signature):
                raise error(-1022, "Signature for this request is not valid.", 400, "signature")
        stamp = params.get("timestamp", "")
        window = int(params.get("recvWindow") or RECV_WINDOW_MS)
        if not stamp.isdigit() or abs(int(stamp) - int(time.time() * 1000)) > window:
            raise error(
                -1021, "Timestamp for this request is outside of the recvWindow.", 400, "timestamp"
            )
        return account, params

    # ----- markets --------------------------------------------------------------------------
    def specs(self, call: Call) -> dict[str, MarketSpec]:
        return {spec.base + "USDT": spec for spec in call.book.paper.markets.values()}

    def exchange_info(self, call: Call) -> Any:
        symbols = []
        for market_id, spec in sorted(self.specs(call).items()):
            lot_max = LOT_MAX.get(spec.base, Decimal(100000))
            symbols.append(
                {
                    "symbol": market_id,
                    "pair": market_id,
                    "contractType": "PERPETUAL",
                    "deliveryDate": 4133404800000,
                    "onboardDate": 1569398400000,
                    "status": "TRADING",
                    "baseAsset": spec.base,
                    "quoteAsset": "USDT",
                    "marginAsset": "USDT",
                    "pricePrecision": _places(spec.price_tick),
                    "quantityPrecision": _places(spec.amount_step),
                    "baseAssetPrecision": 8,
                    "quotePrecision": 8,
                    "underlyingType": "COIN",
                    "triggerProtect": "0.0500",
                    "liquidationFee": "0.012500",
                    "marketTakeBound": "0.05",
                    "filters": [
                        {
                            "filterType": "PRICE_FILTER",
                            "minPrice": fmt(spec.price_tick),
                            "maxPrice": "4529764",
                            "tickSize": fmt(spec.price_tick),
                        },
                        {
                            "filterType": "LOT_SIZE",
                            "stepSize": fmt(spec.amount_step),
                            "maxQty": fmt(lot_max),
                            "minQty": fmt(spec.min_amount or spec.amount_step),
                        },
                        {
                            "filterType": "MARKET_LOT_SIZE",
                            "stepSize": fmt(spec.amount_step),
                            "maxQty": fmt(lot_max * MARKET_MAX_FACTOR),
                            "minQty": fmt(spec.min_amount or spec.amount_step),
                        },
                        {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                        {"filterType": "MIN_NOTIONAL", "notional": fmt(spec.min_notional)},
                        {
                            "filterType": "PERCENT_PRICE",
                            "multiplierUp": "1.0500",
                            "multiplierDown": "0.9500",
                            "multiplierDecimal": "4",
                        },
                    ],
                    "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET"],
                    "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
                }
            )
        return {
            "timezone": "UTC",
            "serverTime": call.now_ms,
            "futuresType": "U_MARGINED",
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "limit": 2400},
                {"rateLimitType": "ORDERS", "interval": "MINUTE", "limit": 1200},
            ],
            "exchangeFilters": [],
            "assets": [{"asset": "USDT", "marginAvailable": True}],
            "symbols": symbols,
        }

    def _mark(self, call: Call, symbol: str) -> Decimal:
        moment = call.book.paper.now - timedelta(milliseconds=call.stale_ms)
        return call.book.paper.path.price(symbol, moment)

    def premium_index(self, call: Call) -> Any:
        rows = []
        for market_id, spec in sorted(self.specs(call).items()):
            rate, next_time = call.book.paper._funding_now(spec.symbol)
            mark = self._mark(call, spec.symbol)
            rows.append(
                {
                    "symbol": market_id,
                    "markPrice": fmt(mark, 8),
                    "indexPrice": fmt(mark, 8),
                    "estimatedSettlePrice": fmt(mark, 8),
                    "lastFundingRate": fmt(rate or Decimal(0), 8),
                    "interestRate": "0.00010000",
                    "nextFundingTime": int(next_time.timestamp() * 1000) if next_time else 0,
                    "time": call.now_ms,
                }
            )
        wanted = call.query.get("symbol")
        if wanted:
            found = [r for r in rows if r["symbol"] == wanted]
            if not found:
                raise error(-1121, "Invalid symbol.")
            return found[0]
        return rows

    def depth(self, call: Call) -> Any:
        spec = self._spec(call, call.query.get("symbol", ""))
        mark = self._mark(call, spec.symbol)
        half = call.book.paper.slippage.half_spread
        levels = int(call.query.get("limit") or 5)
        bids, asks = [], []
        for level in range(levels):
            offset = half * (1 + level)
            bid = (mark * (1 - offset) / spec.price_tick).to_integral_value() * spec.price_tick
            ask = (mark * (1 + offset) / spec.price_tick).to_integral_value() * spec.price_tick
            size = fmt(spec.amount_step * 1000 * (level + 1))
            bids.append([fmt(bid), size])
            asks.append([fmt(ask), size])
        return {
            "lastUpdateId": call.now_ms,
            "E": call.now_ms,
            "T": call.now_ms,
            "bids": bids,
            "asks": asks,
        }

    def _spec(self, call: Call, market_id: str) -> MarketSpec:
        spec = self.specs(call).get(market_id)
        if spec is None:
            raise error(-1121, "Invalid symbol.", rule="symbol", detail=f"unknown {market_id!r}")
        return spec

    # ----- account and orders ----------------------------------------------------------------
    def position_risk(self, call: Call, account: LabAccount, params: dict[str, str]) -> Any:
        """`symbol` (optional) lists only that market's rows [Binance positionRisk v3]."""
        rows = trade.position_rows(call, account, self.specs(call))
        wanted = params.get("symbol")
        return [r for r in rows if not wanted or r["symbol"] == wanted]

    def account(self, call: Call, account: LabAccount, params: dict[str, str]) -> Any:
        return trade.account_body(call, account, self.specs(call))

    def balance(self, call: Call, account: LabAccount, params: dict[str, str]) -> Any:
        return trade.balance_rows(call, account)

    def brackets(self, call: Call, account: LabAccount, params: dict[str, str]) -> Any:
        return trade.bracket_rows(call, self.specs(call))

    async def new_order(self, call: Call, account: LabAccount, params: dict[str, str]) -> Any:
        market_id = params.get("symbol", "")
        spec = self._spec(call, market_id)
        lot_max = LOT_MAX.get(spec.base, Decimal(100000))
        side, quantity, price, kind, reduce_only, position_side, tif = trade.check_order(
            call, account, params, spec, lot_max, lot_max * MARKET_MAX_FACTOR
        )
        order = await call.book.execute(
            VENUE,
            account,
            client_id=params.get("newClientOrderId") or f"lab{call.now_ms}",
            symbol=spec.symbol,
            side=side,
            quantity=quantity,
            price=price,
            order_type=kind,
            time_in_force=tif,
            reduce_only=reduce_only,
            position_side=position_side,
            step=spec.amount_step,
        )
        full = params.get("newOrderRespType", "ACK").upper() == "RESULT"
        return trade.order_body(order, market_id, full)

    def get_order(self, call: Call, account: LabAccount, params: dict[str, str]) -> Any:
        order = trade.lookup(call, account, params)
        return trade.order_body(order, self._market_id(call, order.symbol), True)

    def cancel_order(self, call: Call, account: LabAccount, params: dict[str, str]) -> Any:
        order = trade.lookup(call, account, params)
        if not order.open:  # an order that ended cannot be cancelled
            raise trade.error(-2011, "Unknown order sent.", rule="unknown_order")
        call.book.cancel(order)
        return trade.order_body(order, self._market_id(call, order.symbol), True)

    def open_orders(self, call: Call, account: LabAccount, params: dict[str, str]) -> Any:
        wanted = params.get("symbol")
        return [
            trade.order_body(o, self._market_id(call, o.symbol), True)
            for o in call.book.open_orders(VENUE, account.paper)
            if not wanted or self._market_id(call, o.symbol) == wanted
        ]

    def _market_id(self, call: Call, symbol: str) -> str:
        return call.book.paper.markets[symbol].base + "USDT"


def _places(step: Decimal) -> int:
    exponent = step.normalize().as_tuple().exponent
    return max(-exponent, 0) if isinstance(exponent, int) else 0
