"""Hyperliquid in the venue lab: POST /info (meta and asset contexts, clearinghouse state, book,
order status, open orders) and POST /exchange (order, cancel by cloid) in Hyperliquid's wire
format, with its order rules: 5 significant figures and 6 − szDecimals price decimals, size on
szDecimals, $10 minimum value, reduce-only, 0x+32-hex cloids, signature shape and nonce window.
Not pure (the shared book). Sources: venues.md §3.4 ([HL-docs] exchange-endpoint.md,
error-responses.md, tick-and-lot-size.md; [HL-sdk] Cloid) and HL "nonces-and-api-wallets"."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

from guard.core.domain import INFINITY, MarginMode, MarketSpec, OrderSide, OrderStatus
from guard.lab.venue_lab import candles
from guard.lab.venue_lab import funding_history as funding
from guard.lab.venue_lab.book import LabAccount, LabOrder
from guard.lab.venue_lab.hyperliquid_orders import exchange
from guard.lab.venue_lab.server import Call, Rejected
from guard.lab.venue_lab.views import account_view

VENUE = "hyperliquid"
CLOID = r"0x[0-9a-fA-F]{32}"  # [HL-sdk] Cloid: 0x + 32 hex (128 bits)
MIN_VALUE = Decimal(10)  # "Order must have minimum value of $10." [HL-docs error-responses]
NONCE_PAST_MS, NONCE_FUTURE_MS = 2 * 86_400_000, 86_400_000  # (T − 2 d, T + 1 d) [HL nonces]
WEIGHTS = {"exchange": 1, "l2Book": 2, "allMids": 2, "clearinghouseState": 2, "orderStatus": 2}
SIGNATURE_PART = r"0x[0-9a-fA-F]{64}"
ABSTRACTION_DEFAULT = "default"
ABSTRACTIONS = ("default", "disabled", "unifiedAccount", "portfolioMargin", "dexAbstraction")


def _text(value: Decimal) -> str:
    """Hyperliquid's number strings: plain decimals, trailing zeros kept to one place."""
    text = format(value.normalize(), "f")
    return text if "." in text else text + ".0"


class Hyperliquid:
    """The Hyperliquid REST surface of the lab."""

    name = VENUE

    def __init__(self) -> None:
        self._nonces: dict[str, set[int]] = {}

    def operation(self, call: Call) -> tuple[str, int]:
        body = call.json() if call.body else {}
        kind = (body.get("type") if call.path == "/info" else None) or ""
        if call.path == "/exchange":
            action = (body.get("action") or {}).get("type", "")
            return ("create_order" if action == "order" else action or "exchange"), 1
        operation = {
            "clearinghouseState": "positions",
            "userAbstraction": "account_mode",
            "orderStatus": "fetch_order",
            "metaAndAssetCtxs": "markets",
            "frontendOpenOrders": "open_orders",
            "openOrders": "open_orders",
        }.get(kind, kind)
        return operation, WEIGHTS.get(kind, 20)  # most info requests weigh 20 [HL rate limits]

    async def handle(self, call: Call) -> Any:
        if call.method != "POST" or call.path not in ("/info", "/exchange"):
            raise Rejected(404, {"error": f"venue lab: {call.method} {call.path} is not served"})
        body = call.json()
        if not isinstance(body, dict):
            raise Rejected(422, "Failed to deserialize the JSON body into the target type")
        if call.path == "/exchange":
            return await self.exchange(call, body)
        kind = body.get("type")
        if kind == "metaAndAssetCtxs":
            return [self.meta(call), self.contexts(call)]
        if kind == "meta":
            return self.meta(call)
        if kind == "candleSnapshot":
            markets = {b: call.book.paper.markets[s] for b, s in self.coins(call).items()}
            return candles.hyperliquid_candles(call, markets, body.get("req") or {})
        if kind == "l2Book":
            return self.book(call, str(body.get("coin", "")))
        if kind in ("allMids",):
            return {b: _text(call.book.mark(s)) for b, s in self.coins(call).items()}
        if kind == "perpDexs":  # [HL-docs info-endpoint/perpetuals "Retrieve all perpetual
            return [None]  # dexs"]: null is the first perp DEX; the lab deploys no HIP-3 DEX
        account = self._user(call, body)
        if kind == "userFunding":
            return funding.hyperliquid_user_funding(call, account, body)
        if kind == "userAbstraction":  # [HL-docs info-endpoint "Query a user's abstraction
            # state"]: a JSON string, "default" | "disabled" | "unifiedAccount" |
            # "portfolioMargin" | "dexAbstraction" (venues.md §10; ccxt is_unified_enabled)
            return account.mode or ABSTRACTION_DEFAULT
        if kind == "clearinghouseState":
            dex = body.get("dex") or ""
            if dex:  # only the first perp DEX ("" or absent) exists in the lab
                raise Rejected(
                    422,
                    "Failed to deserialize the JSON body into the target type",
                    "dex",
                    f"unknown perp dex {dex!r} (perpDexs lists none)",
                )
            return self.state(call, account)
        if kind == "orderStatus":
            return self.order_status(call, account, body.get("oid"))
        if kind in ("frontendOpenOrders", "openOrders"):
            return [self.order_row(o) for o in call.book.open_orders(VENUE, account.paper)]
        raise Rejected(422, "Failed to deserialize the JSON body into the target type")

    # ----- markets --------------------------------------------------------------------------
    def coins(self, call: Call) -> dict[str, str]:
        """Coin -> paper symbol, in universe (asset index) order."""
        return {spec.base: symbol for symbol, spec in sorted(call.book.paper.markets.items())}

    def spec(self, call: Call, coin: str) -> MarketSpec:
        symbol = self.coins(call).get(coin)
        if symbol is None:
            raise Rejected(
                422,
                "Failed to deserialize the JSON body into the target type",
                "symbol",
                f"unknown coin {coin!r}",
            )
        return call.book.paper.markets[symbol]

    def meta(self, call: Call) -> Any:
        universe, tables = [], []
        for index, (coin, symbol) in enumerate(self.coins(call).items()):
            spec = call.book.paper.markets[symbol]
            table_id = 50 + index
            universe.append(
                {
                    "name": coin,
                    "szDecimals": _decimals(spec.amount_step),
                    "maxLeverage": int(spec.tiers[0].max_leverage or 1) if spec.tiers else 50,
                    "marginTableId": table_id,
                }
            )
            tiers = [
                {"lowerBound": _text(t.notional_floor), "maxLeverage": int(t.max_leverage or 1)}
                for t in spec.tiers
                if t.notional_floor != INFINITY
            ]
            tables.append([table_id, {"description": f"lab {coin}", "marginTiers": tiers}])
        return {"universe": universe, "marginTables": tables, "collateralToken": 0}

    def _moment_mark(self, call: Call, symbol: str) -> Decimal:
        moment = call.book.paper.now - timedelta(milliseconds=call.stale_ms)
        return call.book.paper.path.price(symbol, moment)

    def contexts(self, call: Call) -> list[Any]:
        rows = []
        for symbol in self.coins(call).values():
            mark = self._moment_mark(call, symbol)
            rate, _ = call.book.paper._funding_now(symbol)
            px = _text(_sig5(mark))
            rows.append(
                {
                    "funding": _text(rate or Decimal(0)),
                    "openInterest": "1000.0",
                    "prevDayPx": px,
                    "dayNtlVlm": "0.0",
                    "premium": "0.0",
                    "oraclePx": px,
                    "markPx": px,
                    "midPx": px,
                    "impactPxs": [px, px],
                    "dayBaseVlm": "0.0",
                }
            )
        return rows

    def book(self, call: Call, coin: str) -> Any:
        spec = self.spec(call, coin)
        mark = self._moment_mark(call, spec.symbol)
        half = call.book.paper.slippage.half_spread
        levels: list[list[dict[str, Any]]] = [[], []]
        for level in range(5):
            offset = half * (1 + level)
            size = _text(spec.amount_step * 1000 * (level + 1))
            levels[0].append({"px": _text(_sig5(mark * (1 - offset))), "sz": size, "n": 1})
            levels[1].append({"px": _text(_sig5(mark * (1 + offset))), "sz": size, "n": 1})
        return {"coin": coin, "time": call.now_ms, "levels": levels}

    # ----- account --------------------------------------------------------------------------
    def _user(self, call: Call, body: dict[str, Any]) -> LabAccount:
        user = str(body.get("user") or "")
        if not re.fullmatch(r"0x[0-9a-fA-F]{40}", user):
            raise Rejected(
                422,
                "Failed to deserialize the JSON body into the target type",
                "user",
                f"user {user!r} is not a 0x address",
            )
        account = call.book.account(VENUE, user)
        if account is None:  # an address the lab does not hold: an empty account, as HL answers
            raise Rejected(
                200,
                {"status": "err", "response": f"User or API Wallet {user} does not exist."},
                "unknown_user",
                user,
            )
        return account

    def state(self, call: Call, account: LabAccount) -> Any:
        view = account_view(call.book, account.paper)
        coins = {s: b for b, s in self.coins(call).items()}
        positions = []
        for p in view.positions:
            isolated = p.margin_mode is MarginMode.ISOLATED
            used = p.isolated_margin + p.upnl if isolated else p.initial_margin
            leverage: dict[str, Any] = {
                "type": "isolated" if isolated else "cross",
                "value": int(p.leverage),
            }
            if isolated:
                leverage["rawUsd"] = _text(used - p.signed * p.mark)
            size = -p.signed if call.contradictory else p.signed
            positions.append(
                {
                    "type": "oneWay",
                    "position": {
                        "coin": coins[p.symbol],
                        "szi": _text(size),
                        "leverage": leverage,
                        "entryPx": _text(p.entry_price),
                        "positionValue": _text(p.notional),
                        "unrealizedPnl": _text(p.upnl),
                        "returnOnEquity": _text(p.upnl / p.initial_margin),
                        "liquidationPx": None,
                        "marginUsed": _text(used),
                        "maxLeverage": int(p.spec.tiers[0].max_leverage or 1),
                        "cumFunding": {
                            "allTime": _text(p.funding_paid),
                            "sinceOpen": _text(p.funding_paid),
                            "sinceChange": _text(p.funding_paid),
                        },
                    },
                }
            )
        cross_used = sum((p.initial_margin for p in view.cross), Decimal(0))
        cross_value = view.wallet + view.cross_upnl
        total_used = cross_used + sum(
            (p.isolated_margin + p.upnl for p in view.isolated), Decimal(0)
        )
        notional = sum((p.notional for p in view.positions), Decimal(0))
        return {
            "marginSummary": {
                "accountValue": _text(view.equity),
                "totalNtlPos": _text(notional),
                "totalRawUsd": _text(
                    view.equity - sum((p.signed * p.mark for p in view.positions), Decimal(0))
                ),
                "totalMarginUsed": _text(total_used),
            },
            "crossMarginSummary": {
                "accountValue": _text(cross_value),
                "totalNtlPos": _text(sum((p.notional for p in view.cross), Decimal(0))),
                "totalRawUsd": _text(
                    cross_value - sum((p.signed * p.mark for p in view.cross), Decimal(0))
                ),
                "totalMarginUsed": _text(cross_used),
            },
            "crossMaintenanceMarginUsed": _text(view.cross_maintenance),
            "withdrawable": _text(view.available),
            "assetPositions": positions,
            "time": call.now_ms,
        }

    # ----- orders ---------------------------------------------------------------------------
    def order_row(self, order: LabOrder) -> dict[str, Any]:
        base = order.symbol.split("/")[0]
        return {
            "coin": base,
            "side": "A" if order.side is OrderSide.SELL else "B",
            "limitPx": _text(order.price or Decimal(0)),
            "sz": _text(order.quantity - order.filled if order.open else Decimal(0)),
            "oid": order.order_id,
            "timestamp": int(order.created.timestamp() * 1000),
            "triggerCondition": "N/A",
            "isTrigger": False,
            "triggerPx": "0.0",
            "children": [],
            "isPositionTpsl": False,
            "reduceOnly": order.reduce_only,
            "orderType": "Limit",
            "origSz": _text(order.quantity),
            "tif": order.time_in_force,
            "cloid": order.client_id if order.client_id.startswith("0x") else None,
        }

    def order_status(self, call: Call, account: LabAccount, oid: Any) -> Any:
        order: LabOrder | None = None
        if isinstance(oid, str) and re.fullmatch(CLOID, oid):
            order = call.book.find(VENUE, account.paper, oid)
        elif isinstance(oid, int) or (isinstance(oid, str) and oid.isdigit()):
            order = call.book.find_id(VENUE, account.paper, int(oid))
        if order is None:
            return {"status": "unknownOid"}
        if order.status is OrderStatus.FILLED:
            status = "filled"
        elif order.open:
            status = "open"
        else:
            status = "canceled"
        return {
            "status": "order",
            "order": {
                "order": self.order_row(order),
                "status": status,
                "statusTimestamp": int(order.updated.timestamp() * 1000),
            },
        }

    async def exchange(self, call: Call, body: dict[str, Any]) -> Any:
        return await exchange(self, call, body)

    def check_signed(self, call: Call, body: dict[str, Any]) -> LabAccount:
        """Signature {r, s, v} shape and the nonce window; the signer is the account whose
        wallet the lab knows (one account per wallet: the lab cannot recover the signer)."""
        signature = body.get("signature")
        if (
            not isinstance(signature, dict)
            or not re.fullmatch(SIGNATURE_PART, str(signature.get("r", "")))
            or not re.fullmatch(SIGNATURE_PART, str(signature.get("s", "")))
            or signature.get("v") not in (27, 28)
        ):
            raise Rejected(
                422,
                "Failed to deserialize the JSON body into the target type",
                "signature",
                f"signature {signature!r} is not {{r, s, v}}",
            )
        nonce = body.get("nonce")
        now = int(time.time() * 1000)
        if not isinstance(nonce, int) or not now - NONCE_PAST_MS < nonce < now + NONCE_FUTURE_MS:
            raise Rejected(
                200,
                {
                    "status": "err",
                    "response": f"Invalid nonce: {nonce} is outside the allowed window",
                },
                "nonce",
                str(nonce),
            )
        accounts = [a for a in call.book.accounts if a.venue == VENUE]
        if len(accounts) != 1:
            vault = body.get("vaultAddress")
            chosen = call.book.account(VENUE, str(vault)) if vault else None
            if chosen is None:
                raise Rejected(
                    200,
                    {
                        "status": "err",
                        "response": "venue lab: several "
                        "Hyperliquid wallets; the signer cannot be recovered "
                        "(pass vaultAddress)",
                    },
                    "signature",
                    "ambiguous signer",
                )
            accounts = [chosen]
        used = self._nonces.setdefault(accounts[0].key, set())
        if nonce in used:  # each nonce once per signer [HL nonces]
            raise Rejected(
                200,
                {"status": "err", "response": f"Invalid nonce: {nonce} was already used"},
                "nonce",
                str(nonce),
            )
        used.add(nonce)
        return accounts[0]


def _decimals(step: Decimal) -> int:
    exponent = step.normalize().as_tuple().exponent
    return max(-exponent, 0) if isinstance(exponent, int) else 0


def _sig5(value: Decimal) -> Decimal:
    """`value` rounded to 5 significant figures (integers above 99,999 stay whole)."""
    if value >= 100_000:
        return value.to_integral_value()
    return Decimal(f"{value:.5g}")


__all__ = ["CLOID", "MIN_VALUE", "Hyperliquid"]
