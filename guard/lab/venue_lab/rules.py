"""The venue lab's shared order-rule checks, each a pure function returning a Violation or None
(never raising); the venue modules map a Violation to their own error code and message."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken venue rule: which rule, and what was wrong, in words."""

    rule: str  # tick, sig_figs, price_decimals, step, min_size, max_size, min_notional, ...
    detail: str


def on_grid(value: Decimal, step: Decimal) -> bool:
    return step > ZERO and value % step == ZERO


def price_on_tick(price: Decimal, tick: Decimal) -> Violation | None:
    """Price a whole multiple of the tick (Binance PRICE_FILTER, Bybit priceFilter, OKX tickSz)."""
    if on_grid(price, tick):
        return None
    return Violation("tick", f"price {price} is not a multiple of the tick size {tick}")


def significant_figures(value: Decimal) -> int:
    return len(value.normalize().as_tuple().digits)


def decimals_of(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(-exponent, 0) if isinstance(exponent, int) else 0


def hyperliquid_price(price: Decimal, max_decimals: int) -> Violation | None:
    """HL perps: at most 5 significant figures and `6 - szDecimals` decimals; integers always
    valid (venues.md §3.4, HL docs tick-and-lot-size)."""
    if price <= ZERO:
        return Violation("tick", f"price {price} must be positive")
    if price == price.to_integral_value():
        return None
    if significant_figures(price) > 5:
        return Violation("sig_figs", f"price {price} has more than 5 significant figures")
    if decimals_of(price) > max_decimals:
        return Violation("price_decimals", f"price {price} has more than {max_decimals} decimals")
    return None


def size_on_step(quantity: Decimal, step: Decimal) -> Violation | None:
    if quantity <= ZERO:
        return Violation("size_positive", f"quantity {quantity} must be positive")
    if on_grid(quantity, step):
        return None
    return Violation("step", f"quantity {quantity} is not a multiple of the step size {step}")


def size_at_least(quantity: Decimal, minimum: Decimal) -> Violation | None:
    if quantity >= minimum:
        return None
    return Violation("min_size", f"quantity {quantity} is below the minimum {minimum}")


def size_at_most(quantity: Decimal, maximum: Decimal | None) -> Violation | None:
    if maximum is None or quantity <= maximum:
        return None
    return Violation("max_size", f"quantity {quantity} is above the maximum {maximum}")


def notional_at_least(
    quantity: Decimal, price: Decimal, minimum: Decimal, *, exempt: bool = False
) -> Violation | None:
    if exempt or quantity * price >= minimum:
        return None
    return Violation(
        "min_notional", f"order value {quantity * price} is below the minimum {minimum}"
    )


def reduce_only(
    position: Decimal, sell: bool, quantity: Decimal, *, oversize_allowed: bool
) -> Violation | None:
    """`position` signed (long > 0). Rejects an order on the position's side or on a flat
    account ("would increase"), and, unless the venue clips (`oversize_allowed`), one larger than
    the position ("would flip")."""
    if position == ZERO or (position > ZERO) != sell:
        return Violation("reduce_only_increase", "reduce-only order would increase the position")
    if quantity > abs(position) and not oversize_allowed:
        return Violation(
            "reduce_only_flip",
            f"reduce-only order of {quantity} is larger than the position {abs(position)}",
        )
    return None


def client_id_format(client_id: str, pattern: str) -> Violation | None:
    if re.fullmatch(pattern, client_id):
        return None
    return Violation("client_id_format", f"client id {client_id!r} does not match {pattern}")
