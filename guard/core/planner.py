"""Turn a decision into reduce-only order plans; pure and deterministic. Invariants: every plan is
reduce-only, on the side opposite its position, within the venue's maximum order size (larger
reductions are sliced, each slice with its own client id), and the plans of one position add up
to at most its size after rounding down to the venue step."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from guard.core.domain import (
    ZERO,
    AccountSnapshot,
    Decision,
    MarketSpec,
    OrderPlan,
    OrderSide,
    OrderType,
    Position,
    Reduction,
)
from guard.core.venues.base import VenueRules, round_down


@dataclass(frozen=True, slots=True)
class Skipped:
    """A reduction the planner could not turn into an order, with the reason."""

    reduction: Reduction
    reason: str


@dataclass(frozen=True, slots=True)
class Plan:
    """Orders to send and reductions that could not be planned."""

    orders: tuple[OrderPlan, ...]
    skipped: tuple[Skipped, ...]


def plan(decision: Decision, snapshot: AccountSnapshot, venue: VenueRules) -> Plan:
    """Plans for every reduction of `decision` against the positions of `snapshot`."""
    orders: list[OrderPlan] = []
    skipped: list[Skipped] = []
    for reduction in decision.reductions:
        position = snapshot.position(reduction.key)
        if position is None:
            skipped.append(Skipped(reduction, "the position is no longer open"))
            continue
        market = snapshot.market(position.symbol)
        quantity, why = order_quantity(reduction.quantity, position, market, venue)
        if quantity <= ZERO:
            skipped.append(Skipped(reduction, why))
            continue
        too_big = _beyond_venue_max(reduction, position, market)
        if too_big:
            skipped.append(Skipped(reduction, too_big))
            continue
        orders.extend(_slices(decision.account, reduction, position, market, venue, quantity))
    return Plan(tuple(orders), tuple(skipped))


def order_quantity(
    wanted: Decimal, position: Position, market: MarketSpec, venue: VenueRules
) -> tuple[Decimal, str]:
    """Quantity to send for `wanted`: clipped to the position, rounded down to the step, dust and
    minimums handled; (0, reason) when nothing can be sent."""
    size = round_down(position.quantity, market.amount_step)
    quantity = round_down(min(wanted, position.quantity), market.amount_step)
    leftover = size - quantity
    if leftover > ZERO and (leftover < market.min_amount or leftover < market.amount_step):
        quantity = size  # what would remain is dust the venue could not close: close it all now
    if quantity <= ZERO:
        return ZERO, f"{wanted} is below the venue step {market.amount_step}"
    exempt = (
        venue.reduce_only_exempt_from_min_notional or market.reduce_only_exempt_from_min_notional
    )
    if market.min_amount > quantity and quantity < size:
        bumped = _ceil_to_step(market.min_amount, market.amount_step)
        quantity = min(bumped, size)
    notional = quantity * position.mark_price
    if not exempt and market.min_notional > ZERO and notional < market.min_notional:
        needed = _ceil_to_step(market.min_notional / position.mark_price, market.amount_step)
        if needed <= size:
            quantity = needed
        elif size * position.mark_price >= market.min_notional:
            quantity = size
        else:
            return ZERO, (
                f"the whole position ({size}) is below the venue minimum notional "
                f"{market.min_notional}; it cannot be reduced by an order"
            )
    return quantity, ""


def _ceil_to_step(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(rounding=ROUND_CEILING) * step


def worst_price(side: OrderSide, mark: Decimal, slippage: Decimal, tick: Decimal) -> Decimal:
    """Worst acceptable price: mark moved by the slippage cap, rounded toward the mark."""
    if side is OrderSide.SELL:
        raw = mark * (1 - slippage)
        return (raw / tick).to_integral_value(rounding=ROUND_CEILING) * tick
    raw = mark * (1 + slippage)
    return (raw / tick).to_integral_value(rounding=ROUND_FLOOR) * tick


def _beyond_venue_max(reduction: Reduction, position: Position, market: MarketSpec) -> str:
    """Why no order the venue accepts can reduce the position (one step is above its maximum
    order amount or value), else ""."""
    step = market.amount_step
    if market.max_order_amount is not None and step > market.max_order_amount:
        return f"one step {step} is above the venue's maximum order amount"
    if market.max_order_notional is not None:
        side = position.side.closing_order_side
        slippage = reduction.execution.max_slippage
        limit = worst_price(side, position.mark_price, slippage, market.price_tick)
        value = step * max(position.mark_price, limit)
        if value > market.max_order_notional:
            return (
                f"one step {step} is worth {value} at the worst acceptable price, above the "
                f"venue's maximum order value {market.max_order_notional}"
            )
    return ""


def _slice_cap(
    policy_notional: Decimal | None, position: Position, market: MarketSpec, limit: Decimal
) -> Decimal | None:
    """The largest slice in base units: the policy's slice notional and the venue's maximum order
    amount and value (valued at the worse of mark and worst acceptable price), rounded down."""
    caps: list[Decimal] = []
    if policy_notional is not None:
        caps.append(policy_notional / position.mark_price)
    if market.max_order_amount is not None:
        caps.append(market.max_order_amount)
    if market.max_order_notional is not None:
        caps.append(market.max_order_notional / max(position.mark_price, limit))
    # a cap below one step cannot be honoured by any order: it is left out (never "no slicing")
    usable = [c for c in (round_down(cap, market.amount_step) for cap in caps) if c > ZERO]
    return min(usable) if usable else None


def slice_sizes(quantity: Decimal, cap: Decimal | None, market: MarketSpec) -> list[Decimal]:
    """`quantity` in pieces of at most `cap` (step multiples, in order); a remainder below the
    venue minimum is merged with the piece before it and the two split evenly, so every piece
    is at least the minimum and at most the cap."""
    if cap is None or cap <= ZERO or cap >= quantity:
        return [quantity]
    count = int((quantity / cap).to_integral_value(rounding=ROUND_FLOOR))
    pieces = [cap] * count
    rest = quantity - cap * count
    if rest > ZERO:
        pieces.append(rest)
    if ZERO < rest < market.min_amount and len(pieces) >= 2:
        joined = pieces[-2] + pieces[-1]
        first = _ceil_to_step(joined / 2, market.amount_step)
        pieces[-2:] = [first, joined - first]
    return pieces


def _slices(
    account: str,
    reduction: Reduction,
    position: Position,
    market: MarketSpec,
    venue: VenueRules,
    quantity: Decimal,
) -> list[OrderPlan]:
    execution = reduction.execution
    side = position.side.closing_order_side
    limit = worst_price(side, position.mark_price, execution.max_slippage, market.price_tick)
    pieces = slice_sizes(
        quantity, _slice_cap(execution.max_slice_notional, position, market, limit), market
    )
    plans: list[OrderPlan] = []
    for index, piece in enumerate(pieces):
        client_id = venue.client_order_id(
            account, position.symbol, position.side.value, *reduction.steps, f"slice{index}"
        )
        plans.append(
            OrderPlan(
                account=account,
                symbol=position.symbol,
                side=side,
                quantity=piece,
                position_side=position.side,
                margin_mode=position.margin_mode,
                client_order_id=client_id,
                order_type=execution.order_type
                if venue.native_market_orders or execution.order_type is OrderType.LIMIT_IOC
                else OrderType.LIMIT_IOC,
                limit_price=limit,
                reduce_only=True,
                hedged=position.hedged,
                rule_ids=reduction.rule_ids,
                reason="; ".join(reduction.reasons),
                steps=reduction.steps,
                reference_price=position.mark_price,
            )
        )
    return plans
