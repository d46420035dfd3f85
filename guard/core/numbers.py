"""Decimals as people read them: quantities at the market's step, prices at its tick (else to 8
significant digits), money to the cent, ratios as percentages; pure."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Context, Decimal

from guard.core.domain import MarketSpec, OrderPlan, OrderResult

PRICE_DIGITS = 8  # a price with no tick at hand is rounded to this many significant digits
CENT = Decimal("0.01")


def plain(value: Decimal) -> str:
    """`value` in fixed notation without trailing zeros: never 0E+23, 1E+2 or 0.300."""
    if not value.is_finite():
        return str(value)
    if value.is_zero():
        return "0"
    return format(value.normalize(), "f")


def quantity_text(value: Decimal, step_like: Decimal | None = None) -> str:
    """A quantity rounded to the places of `step_like` (the plan's own quantity, a multiple of
    the market's amount step), e.g. a fill of 0.29999999999 on a 0.300 order reads 0.3."""
    if step_like is not None and value.is_finite() and step_like.is_finite():
        exponent = step_like.as_tuple().exponent
        if isinstance(exponent, int):
            value = value.quantize(Decimal(1).scaleb(min(exponent, 0)), ROUND_HALF_EVEN)
    return plain(value)


def price_text(value: Decimal, tick: Decimal | None = None) -> str:
    """A price at the market's tick when known, else to PRICE_DIGITS significant digits."""
    if not value.is_finite():
        return str(value)
    if tick is not None and tick > 0:
        return plain((value / tick).to_integral_value(ROUND_HALF_EVEN) * tick)
    return plain(Context(prec=PRICE_DIGITS, rounding=ROUND_HALF_EVEN).plus(value))


def money_text(value: Decimal) -> str:
    """An amount of money to the cent, with thousands separators: 8,615.12."""
    if not value.is_finite():
        return str(value)
    return f"{value.quantize(CENT, ROUND_HALF_EVEN):,}"


def ratio_text(value: Decimal, places: int = 2) -> str:
    """A fraction as a percentage with `places` decimals: 0.0837643 reads 8.38%."""
    if not value.is_finite():
        return str(value)
    return f"{plain((value * 100).quantize(Decimal(1).scaleb(-places), ROUND_HALF_EVEN))}%"


def market_quantity(value: Decimal, market: MarketSpec | None) -> str:
    """A quantity at its market's amount precision (0.300 on a 0.001 step reads 0.3)."""
    return quantity_text(value, market.amount_step if market is not None else None)


def market_price(value: Decimal, market: MarketSpec | None) -> str:
    """A price at its market's tick (8 significant digits when the market is unknown)."""
    return price_text(value, market.price_tick if market is not None else None)


def result_text(plan: OrderPlan, result: OrderResult) -> str:
    """An order result for the audit log: `filled: reduce-only sell 0.3 BTC (filled 0.3 at 58296.63)`."""
    price = f" at {price_text(result.average_price)}" if result.average_price is not None else ""
    text = (
        f"{result.status.value}: reduce-only {plan.side.value} {plain(plan.quantity)} {plan.symbol}"
        f" (filled {quantity_text(result.filled_quantity, plan.quantity)}{price})"
    )
    return f"{text} — {result.message}" if result.message else text


def result_alert_text(
    plan: OrderPlan | None, result: OrderResult, market: MarketSpec | None = None
) -> str:
    """An order result for an alert: `reduce-only sell 0.3 BTC: filled, filled 0.3 at 58296.6`
    (the price at `market`'s tick when given)."""
    target = f"{plan.side.value} {plain(plan.quantity)} {plan.symbol}" if plan else ""
    filled = quantity_text(result.filled_quantity, plan.quantity if plan else None)
    average = result.average_price
    price = f" at {market_price(average, market)}" if average is not None else ""
    text = f"reduce-only {target}: {result.status.value}, filled {filled}{price}"
    return f"{text} — {result.message}" if result.message else text
