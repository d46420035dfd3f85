"""Maps a reduce-only OrderPlan to ccxt create_order arguments per venue; no ccxt import, no I/O.

Invariants: every order is reduce-only (a venue flag, or the hedge-mode position side that makes
a closing order reduce-only by construction); amounts are truncated to the venue step, never
rounded up, and handed to ccxt as decimal strings that ccxt's own rounding leaves unchanged;
client ids are validated against each venue's format before anything is sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from guard.core.domain import ZERO, MarketSpec, OrderPlan, OrderType, Side
from guard.core.venues.base import round_down

CLIENT_ID_PATTERNS: dict[str, re.Pattern[str]] = {
    "binance": re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$"),
    "bybit": re.compile(r"^[A-Za-z0-9_-]{1,36}$"),
    "okx": re.compile(r"^[A-Za-z0-9]{1,32}$"),
    "hyperliquid": re.compile(r"^0x[0-9a-f]{32}$"),
    "dydx": re.compile(r"^[0-9]{1,10}$"),
}
UINT32_MAX = 2**32 - 1


class OrderMappingError(ValueError):
    """The plan cannot be expressed as a valid order on this venue (the message says why)."""


@dataclass(frozen=True, slots=True)
class CcxtOrder:
    """Arguments of one ccxt ``create_order`` call; amount and price are decimal strings."""

    symbol: str
    type: str  # "market" | "limit"
    side: str  # "buy" | "sell"
    amount: str  # in ccxt's unit for this venue (contracts on OKX, base units elsewhere)
    price: str | None
    params: dict[str, Any] = field(default_factory=dict)


def check_client_id(venue: str, client_order_id: str) -> None:
    """Raise OrderMappingError unless `client_order_id` has the venue's format."""
    pattern = CLIENT_ID_PATTERNS.get(venue)
    if pattern is None:
        raise OrderMappingError(f"no client-id format known for venue {venue!r}")
    if not pattern.match(client_order_id):
        raise OrderMappingError(
            f"client order id {client_order_id!r} does not match {venue}'s format {pattern.pattern}"
        )
    if venue == "dydx" and not 0 < int(client_order_id) <= UINT32_MAX:
        raise OrderMappingError(f"dydx client id {client_order_id} is not a non-zero uint32")


def plain(value: Decimal) -> str:
    """A decimal as a plain string without exponent or trailing zeros ("0.0100" -> "0.01")."""
    text = format(value.normalize(), "f")
    return text if text not in ("-0", "") else "0"


def truncated_quantity(plan: OrderPlan, spec: MarketSpec) -> Decimal:
    """The plan's base quantity rounded DOWN to the venue step (never up)."""
    if plan.quantity <= ZERO:
        raise OrderMappingError(f"order quantity must be positive, got {plan.quantity}")
    quantity = round_down(plan.quantity, spec.amount_step)
    if quantity <= ZERO or quantity < spec.min_amount:
        raise OrderMappingError(
            f"{plan.quantity} {spec.base} rounds down to {quantity}, below the venue minimum "
            f"{spec.min_amount} (step {spec.amount_step})"
        )
    return quantity


def map_order(
    venue: str,
    plan: OrderPlan,
    spec: MarketSpec,
    *,
    reference_price: Decimal | None = None,
) -> CcxtOrder:
    """The ccxt create_order arguments that carry out `plan` on `venue`.

    `reference_price` (mark or top of book) is used only for the minimum-notional check when the
    plan has no worst-acceptable price.
    """
    if not plan.reduce_only:
        raise OrderMappingError("the guard only sends reduce-only orders")
    if plan.side is not plan.position_side.closing_order_side:
        raise OrderMappingError(
            f"{plan.side.value} does not reduce a {plan.position_side.value} position"
        )
    check_client_id(venue, plan.client_order_id)
    quantity = truncated_quantity(plan, spec)
    price = plan.limit_price
    _check_min_notional(venue, quantity, price or reference_price, spec)
    mapper = _MAPPERS.get(venue)
    if mapper is None:
        raise OrderMappingError(f"no order mapping for venue {venue!r}")
    return mapper(plan, spec, quantity, price)


def _check_min_notional(
    venue: str, quantity: Decimal, price: Decimal | None, spec: MarketSpec
) -> None:
    exempt = spec.reduce_only_exempt_from_min_notional or venue == "binance"
    if exempt or spec.min_notional <= ZERO or price is None:
        return
    if quantity * price < spec.min_notional:
        raise OrderMappingError(
            f"order value {quantity * price} is below {venue}'s minimum notional "
            f"{spec.min_notional} for {spec.symbol}"
        )


def _market_or_ioc(
    plan: OrderPlan, price: Decimal | None
) -> tuple[str, str | None, dict[str, Any]]:
    if plan.order_type is OrderType.MARKET:
        return "market", None, {}
    if price is None:
        raise OrderMappingError("a limit-IOC order needs a worst-acceptable price")
    return "limit", plain(price), {"timeInForce": "IOC"}


def _binance(
    plan: OrderPlan, spec: MarketSpec, quantity: Decimal, price: Decimal | None
) -> CcxtOrder:
    kind, limit, params = _market_or_ioc(plan, price)
    params["clientOrderId"] = plan.client_order_id
    if plan.hedged:
        # hedge mode: reduceOnly "cannot be sent"; the position side makes it a closing order
        params["positionSide"] = "LONG" if plan.position_side is Side.LONG else "SHORT"
    else:
        params["reduceOnly"] = True
    return CcxtOrder(plan.symbol, kind, plan.side.value, plain(quantity), limit, params)


def _bybit(
    plan: OrderPlan, spec: MarketSpec, quantity: Decimal, price: Decimal | None
) -> CcxtOrder:
    kind, limit, params = _market_or_ioc(plan, price)
    params["clientOrderId"] = plan.client_order_id
    params["reduceOnly"] = True
    params["positionIdx"] = (1 if plan.position_side is Side.LONG else 2) if plan.hedged else 0
    return CcxtOrder(plan.symbol, kind, plan.side.value, plain(quantity), limit, params)


def _okx(plan: OrderPlan, spec: MarketSpec, quantity: Decimal, price: Decimal | None) -> CcxtOrder:
    kind, limit, params = _market_or_ioc(plan, price)
    if spec.contract_size <= ZERO:
        raise OrderMappingError(f"{spec.symbol}: contract size must be positive")
    contracts = quantity / spec.contract_size  # exact: quantity is a multiple of the base step
    params["clientOrderId"] = plan.client_order_id
    params["marginMode"] = plan.margin_mode.value  # -> tdMode; ccxt would default to cross
    if plan.hedged:
        params["posSide"] = plan.position_side.value  # closing side in long/short mode
    else:
        params["reduceOnly"] = True
    return CcxtOrder(plan.symbol, kind, plan.side.value, plain(contracts), limit, params)


def _hyperliquid(
    plan: OrderPlan, spec: MarketSpec, quantity: Decimal, price: Decimal | None
) -> CcxtOrder:
    if price is None:
        raise OrderMappingError(
            "hyperliquid has no market order: a worst-acceptable price is needed"
        )
    # an IOC limit at the worst acceptable price is what a "market" order is on Hyperliquid
    params: dict[str, Any] = {
        "clientOrderId": plan.client_order_id,
        "reduceOnly": True,
        "timeInForce": "Ioc",
    }
    return CcxtOrder(plan.symbol, "limit", plan.side.value, plain(quantity), plain(price), params)


def _dydx(plan: OrderPlan, spec: MarketSpec, quantity: Decimal, price: Decimal | None) -> CcxtOrder:
    if price is None:
        raise OrderMappingError("dydx reduce-only orders need a worst-acceptable price")
    # the chain accepts reduce-only only on IOC/FOK orders: a short-term IOC limit
    params: dict[str, Any] = {
        "clientOrderId": int(plan.client_order_id),
        "reduceOnly": True,
        "timeInForce": "IOC",
    }
    # an isolated position lives in a child subaccount: the gateway adds its `subAccountId`
    return CcxtOrder(plan.symbol, "limit", plan.side.value, plain(quantity), plain(price), params)


_MAPPERS = {
    "binance": _binance,
    "bybit": _bybit,
    "okx": _okx,
    "hyperliquid": _hyperliquid,
    "dydx": _dydx,
}
