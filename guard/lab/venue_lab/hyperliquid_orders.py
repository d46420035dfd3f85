"""Hyperliquid /exchange actions in the venue lab: order (the venue's per-order rules, each error
string as Hyperliquid words it) and cancel / cancelByCloid. Not pure (the shared book). Sources:
venues.md §3.4 ([HL-docs] exchange-endpoint.md, error-responses.md, tick-and-lot-size.md)."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from guard.core.domain import MarketSpec, OrderSide, OrderStatus
from guard.lab.venue_lab import rules
from guard.lab.venue_lab.book import LabAccount
from guard.lab.venue_lab.server import Call, Rejected, Rejection


class Hyperliquid(Protocol):
    """What the order actions need of the Hyperliquid module (markets and the signer)."""

    def coins(self, call: Call) -> dict[str, str]: ...

    def spec(self, call: Call, coin: str) -> MarketSpec: ...

    def check_signed(self, call: Call, body: dict[str, Any]) -> LabAccount: ...


def parse_decimal(raw: Any) -> Decimal | None:
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


VENUE = "hyperliquid"
CLOID = r"0x[0-9a-fA-F]{32}"
MIN_VALUE = Decimal(10)
PRICE_BAND = Decimal("0.8")  # "cannot be more than 80% away from the reference price"
DESERIALIZE = "Failed to deserialize the JSON body into the target type"


def _ok(kind: str, data: Any) -> Any:
    return {"status": "ok", "response": {"type": kind, "data": data}}


async def exchange(venue: Hyperliquid, call: Call, body: dict[str, Any]) -> Any:
    action = body.get("action")
    if not isinstance(action, dict):
        raise Rejected(422, DESERIALIZE, "mandatory", "action missing")
    account = venue.check_signed(call, body)
    kind = action.get("type")
    if kind == "order":
        orders = action.get("orders")
        if not isinstance(orders, list) or not orders:
            raise Rejected(422, DESERIALIZE, "mandatory", "orders missing")
        cloids = [o.get("c") for o in orders if isinstance(o, dict)]
        if any(c is None for c in cloids) and any(c is not None for c in cloids):
            # in one batch either every order has a cloid or none has [HL-sdk], venues.md §7.2
            raise Rejected(422, DESERIALIZE, "client_id_format", "mixed cloids in one batch")
        statuses = [await place(venue, call, account, o) for o in orders]
        return _ok("order", {"statuses": statuses})
    if kind in ("cancel", "cancelByCloid"):
        statuses = [cancel(venue, call, account, kind, c) for c in action.get("cancels") or []]
        return _ok("cancel", {"statuses": statuses})
    if kind in ("updateLeverage", "updateIsolatedMargin", "setReferrer", "approveBuilderFee"):
        return {"status": "ok", "response": {"type": "default"}}
    raise Rejected(422, DESERIALIZE, "mandatory", f"action type {kind!r} is not served")


def _reject(call: Call, rule: str, detail: str, message: str) -> dict[str, str]:
    """A per-order error status (HTTP 200, as Hyperliquid answers), recorded by the lab."""
    if call.rejections is not None:
        call.rejections.append(Rejection(VENUE, "create_order", rule, detail, message))
    return {"error": message}


async def place(venue: Hyperliquid, call: Call, account: LabAccount, raw: Any) -> Any:
    """One order of the batch: a status ({filled}, {resting} or {error})."""
    if not isinstance(raw, dict):
        raise Rejected(422, DESERIALIZE, "mandatory", "order is not an object")
    coins = list(venue.coins(call))
    asset = raw.get("a")
    if not isinstance(asset, int) or not 0 <= asset < len(coins):
        raise Rejected(422, DESERIALIZE, "symbol", f"asset {asset!r} unknown")
    spec = venue.spec(call, coins[asset])
    cloid = raw.get("c")
    if cloid is not None and not re.fullmatch(CLOID, str(cloid)):
        raise Rejected(422, DESERIALIZE, "client_id_format", f"cloid {cloid!r} is not 0x+32 hex")
    price, size = parse_decimal(raw.get("p")), parse_decimal(raw.get("s"))
    tif_raw = raw.get("t")
    if (
        price is None
        or size is None
        or not isinstance(raw.get("b"), bool)
        or not isinstance(tif_raw, dict)
    ):
        raise Rejected(422, DESERIALIZE, "mandatory", "p, s, b and t are required")
    limit = tif_raw.get("limit")
    if not isinstance(limit, dict) or limit.get("tif") not in ("Ioc", "Gtc", "Alo"):
        return _reject(call, "order_type", "only limit orders are served", "Invalid order type.")
    side = OrderSide.BUY if raw["b"] else OrderSide.SELL
    reduce_only = bool(raw.get("r"))
    sz_decimals = max(-int(spec.amount_step.normalize().as_tuple().exponent), 0)
    suffix = f" asset={asset}"
    if size == 0:
        return _reject(call, "size_positive", "zero size", "Order has zero size.")
    bad = rules.hyperliquid_price(price, 6 - sz_decimals)
    if bad:  # 5 significant figures, 6 − szDecimals decimals [HL-docs tick-and-lot-size]
        return _reject(call, bad.rule, bad.detail, "Price must be divisible by tick size." + suffix)
    if rules.decimals_of(size) > sz_decimals or size < 0:  # size rounded to szDecimals
        return _reject(
            call,
            "step",
            f"size {size} has more than {sz_decimals} decimals",
            "Order has invalid size.",
        )
    mark = call.book.mark(spec.symbol)
    if abs(price - mark) > mark * PRICE_BAND:
        return _reject(
            call,
            "price_band",
            f"price {price} vs reference {mark}",
            "Order price cannot be more than 80% away from the reference price",
        )
    bad = rules.notional_at_least(size, price, MIN_VALUE)
    if bad:  # $10 minimum order value [HL-docs error-responses]; no reduce-only exemption known
        return _reject(call, bad.rule, bad.detail, "Order must have minimum value of $10." + suffix)
    held = call.book.signed_position(account.paper, spec.symbol)
    if reduce_only:
        # "Reduce only order would increase position." [HL-docs]; a reduce-only order larger than
        # the position is UNVERIFIED on HL (venues.md §3.4): the lab refuses it as increasing
        bad = rules.reduce_only(held, side is OrderSide.SELL, size, oversize_allowed=False)
        if bad:
            return _reject(
                call, bad.rule, bad.detail, "Reduce only order would increase position." + suffix
            )
    elif held == 0 or (held > 0) != (side is OrderSide.SELL) or size > abs(held):
        return _reject(
            call,
            "lab_opening",
            "opening is not simulated",
            "Insufficient margin to place order." + suffix,
        )
    order = await call.book.execute(
        VENUE,
        account,
        client_id=str(cloid) if cloid else "",
        symbol=spec.symbol,
        side=side,
        quantity=size,
        price=price,
        order_type="limit",
        time_in_force=str(limit["tif"]),
        reduce_only=reduce_only,
        position_side="BOTH",
        step=spec.amount_step,
    )
    if order.open:
        resting: dict[str, Any] = {"oid": order.order_id}
        if cloid:
            resting["cloid"] = cloid
        return {"resting": resting}
    if order.filled > 0:
        filled: dict[str, Any] = {
            "totalSz": _num(order.filled),
            "avgPx": _num(order.average_price or Decimal(0)),
            "oid": order.order_id,
        }
        if cloid:
            filled["cloid"] = cloid
        return {"filled": filled}
    return {"error": "Order could not immediately match against any resting orders." + suffix}


def cancel(venue: Hyperliquid, call: Call, account: LabAccount, kind: str, raw: Any) -> Any:
    if not isinstance(raw, dict):
        raise Rejected(422, DESERIALIZE, "mandatory", "cancel is not an object")
    asset = raw.get("asset", raw.get("a"))
    if kind == "cancelByCloid":
        order = call.book.find(VENUE, account.paper, str(raw.get("cloid")))
    else:
        oid = raw.get("o")
        order = call.book.find_id(VENUE, account.paper, int(oid)) if isinstance(oid, int) else None
    if order is None or not order.open:
        return {"error": f"Order was never placed, already canceled, or filled. asset={asset}"}
    call.book.cancel(order)
    return "success"


def _num(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text if "." in text else text + ".0"


__all__ = ["OrderStatus", "exchange"]
