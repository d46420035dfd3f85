"""OKX v5 (USDT-margined SWAP) in the venue lab: the /api/v5 public, account and trade endpoints
ccxt calls, in OKX's envelope {code, msg, data}, amounts in contracts (ctVal), with its order
rules (tickSz, lotSz, minSz, maxMktSz/maxLmtSz, reduce-only in net mode, posSide in long/short
mode, clOrdId ≤ 32 alphanumerics and unique) and base64 HMAC signatures with the passphrase. Not
pure (the shared book). Sources: venues.md §6.4 ([OKX] v5 API as restated by ccxt; sCodes as in
ccxt's okx table) and the v5 "REST Authentication" page."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from guard.core.domain import MarketSpec
from guard.lab.venue_lab import candles
from guard.lab.venue_lab import funding_history as funding
from guard.lab.venue_lab import okx_orders as orders
from guard.lab.venue_lab import okx_trade as trade
from guard.lab.venue_lab.book import LabAccount
from guard.lab.venue_lab.server import Call, Rejected
from guard.lab.venue_lab.views import fmt

VENUE = "okx"
WINDOW_S = 30  # OK-ACCESS-TIMESTAMP older than 30 s: 50102 "Timestamp request expired"
OPERATIONS = {
    "/api/v5/trade/order": "create_order",
    "/api/v5/trade/cancel-order": "cancel_order",
    "/api/v5/account/positions": "positions",
    "/api/v5/account/balance": "account",
    "/api/v5/public/instruments": "markets",
}


def envelope(data: list[Any]) -> dict[str, Any]:
    return {"code": "0", "msg": "", "data": data}


def error(code: str, msg: str, rule: str = "", detail: str = "", status: int = 200) -> Rejected:
    return Rejected(status, {"code": code, "msg": msg, "data": []}, rule or code, detail or msg)


class Okx:
    """The OKX v5 REST surface of the lab."""

    name = VENUE

    def operation(self, call: Call) -> tuple[str, int]:
        if call.method == "GET" and call.path == "/api/v5/trade/order":
            return "fetch_order", 1
        return OPERATIONS.get(call.path, call.path), 1

    async def handle(self, call: Call) -> Any:
        public = {
            "/api/v5/public/instruments": trade.instruments,
            "/api/v5/public/funding-rate": trade.funding_rate,
            "/api/v5/market/books": trade.books,
            "/api/v5/public/position-tiers": trade.position_tiers,
            "/api/v5/public/time": lambda c: [{"ts": str(c.now_ms)}],
            "/api/v5/public/mark-price": trade.mark_prices,
            "/api/v5/market/mark-price-candles": mark_candles,
            # the same rows, for older bars (ccxt picks it when `since` is far from its clock)
            "/api/v5/market/history-mark-price-candles": mark_candles,
            "/api/v5/public/funding-rate-history": funding.okx_funding_rate_history,
        }
        if call.path in public:
            return envelope(public[call.path](call))
        account = self.authenticate(call)
        params = dict(call.query)
        if call.method == "POST" and call.body:
            body = call.json()
            if not isinstance(body, dict):
                raise error("50014", "Parameter body can not be empty", "mandatory")
            params.update(body)
        if call.method == "POST" and call.path == "/api/v5/trade/order":
            return await orders.place(call, account, params)
        handlers = {
            ("GET", "/api/v5/account/positions"): trade.positions,
            ("GET", "/api/v5/account/balance"): trade.balance,
            ("GET", "/api/v5/account/config"): trade.config,
            ("GET", "/api/v5/trade/order"): orders.get_order,
            ("GET", "/api/v5/trade/orders-pending"): orders.pending,
            ("POST", "/api/v5/trade/cancel-order"): orders.cancel,
            ("GET", "/api/v5/account/bills"): funding.okx_bills,
            ("GET", "/api/v5/account/bills-archive"): funding.okx_bills,
        }
        handler = handlers.get((call.method, call.path))
        if handler is None:
            raise error("50000", f"venue lab: {call.path} is not served", status=404)
        return handler(call, account, params)

    def authenticate(self, call: Call) -> LabAccount:
        """OK-ACCESS-KEY, -PASSPHRASE, -TIMESTAMP (ISO, within 30 s) and -SIGN = base64
        HMAC-SHA256(secret, timestamp + METHOD + requestPath[?query] + body)."""
        key = call.headers.get("OK-ACCESS-KEY", "")
        account = call.book.account(VENUE, key) if key else None
        if account is None:
            raise error("50111", "Invalid OK-ACCESS-KEY", "signature", "unknown key", 401)
        if (
            account.passphrase is not None
            and call.headers.get("OK-ACCESS-PASSPHRASE") != account.passphrase
        ):
            raise error("50105", "Invalid OK-ACCESS-PASSPHRASE", "signature", "passphrase", 401)
        stamp = call.headers.get("OK-ACCESS-TIMESTAMP", "")
        try:
            sent = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            raise error("50112", "Invalid OK-ACCESS-TIMESTAMP", "timestamp", stamp, 401) from None
        if abs((datetime.now(UTC) - sent).total_seconds()) > WINDOW_S:
            raise error("50102", "Timestamp request expired", "timestamp", stamp, 401)
        sign = call.headers.get("OK-ACCESS-SIGN", "")
        if not re.fullmatch(r"[A-Za-z0-9+/]{43}=", sign):
            raise error("50113", "Invalid Sign", "signature", "not base64 of 32 bytes", 401)
        if account.secret is not None:
            path = call.path + (f"?{call.raw_query}" if call.raw_query else "")
            payload = stamp + call.method + path + (call.body or "")
            digest = hmac.new(account.secret.encode(), payload.encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(base64.b64encode(digest).decode(), sign):
                raise error("50113", "Invalid Sign", "signature", "HMAC mismatch", 401)
        return account


def mark_candles(call: Call) -> Any:
    return candles.okx_mark_candles(call, specs(call))


def specs(call: Call) -> dict[str, MarketSpec]:
    return {f"{spec.base}-USDT-SWAP": spec for spec in call.book.paper.markets.values()}


__all__ = ["Decimal", "Okx", "envelope", "error", "fmt", "specs"]
