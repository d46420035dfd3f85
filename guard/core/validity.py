"""Is a snapshot fit to act on? Pure: every number finite and in its domain, nothing contradictory.

A snapshot with any problem listed here is never evaluated: the tick holds, audits and alerts.
Each problem names the venue, the part of the snapshot and the field, the value, and what would
be right, so an operator can find the venue payload field that carried it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

from guard.core.domain import (
    ZERO,
    AccountSnapshot,
    Balance,
    MarginMode,
    MarketData,
    MarketSpec,
    Position,
    PositionKey,
)

# Finer than any venue's increment (Hyperliquid szDecimals ≤ 5, dYdX quantums ≥ 1e-10 base units):
# a smaller step or tick is a unit mix-up, not a market.
SMALLEST_INCREMENT = Decimal("1e-12")
# No venue lists a contract whose one size step is worth more than this in quote currency.
LARGEST_STEP_NOTIONAL = Decimal(10_000_000)
# Funding per interval beyond ±100 % or a fee beyond ±10 % of notional is not a real figure.
LARGEST_FUNDING_RATE = Decimal(1)
LARGEST_FEE_RATE = Decimal("0.1")
LARGEST_LEVERAGE = Decimal(1000)


def _finite(value: Decimal) -> bool:
    return value.is_finite()


def _check(
    where: str, field: str, value: Decimal | None, *, floor: Decimal, strict: bool, want: str
) -> Iterator[str]:
    """One problem when `value` (if set) is not finite or not above/at `floor`."""
    if value is None:
        return
    if not _finite(value) or value < floor or (strict and value == floor):
        yield f"{where}: {field} = {value} (must be {want})"


def _positive(where: str, field: str, value: Decimal | None) -> Iterator[str]:
    yield from _check(where, field, value, floor=ZERO, strict=True, want="a finite number > 0")


def _non_negative(where: str, field: str, value: Decimal | None) -> Iterator[str]:
    yield from _check(where, field, value, floor=ZERO, strict=False, want="a finite number >= 0")


def _bounded(where: str, field: str, value: Decimal | None, limit: Decimal) -> Iterator[str]:
    if value is None:
        return
    if not _finite(value) or abs(value) > limit:
        yield f"{where}: {field} = {value} (must be a finite number within ±{limit})"


def _spec_problems(where: str, spec: MarketSpec) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The problems of `spec` alone: those listed before the mark price's, and its tiers'."""
    head: list[str] = []
    head.extend(_positive(where, "contract_size", spec.contract_size))
    for field, step in (("amount_step", spec.amount_step), ("price_tick", spec.price_tick)):
        head.extend(_positive(where, field, step))
        if _finite(step) and ZERO < step < SMALLEST_INCREMENT:
            head.append(f"{where}: {field} = {step} (must be at least {SMALLEST_INCREMENT})")
    head.extend(_non_negative(where, "min_amount", spec.min_amount))
    head.extend(_non_negative(where, "min_notional", spec.min_notional))
    head.extend(_positive(where, "max_order_amount", spec.max_order_amount))
    head.extend(_positive(where, "max_order_notional", spec.max_order_notional))
    head.extend(_bounded(where, "taker_fee_rate", spec.taker_fee_rate, LARGEST_FEE_RATE))
    if spec.funding_interval <= timedelta(0):
        head.append(f"{where}: funding_interval = {spec.funding_interval} (must be positive)")
    tail: list[str] = []
    previous_cap = ZERO
    for index, tier in enumerate(spec.tiers):
        tier_where = f"{where} tier {index}"
        tail.extend(_non_negative(tier_where, "notional_floor", tier.notional_floor))
        if tier.notional_cap.is_nan() or (
            not tier.notional_floor.is_nan() and tier.notional_cap <= tier.notional_floor
        ):
            tail.append(
                f"{tier_where}: notional_cap = {tier.notional_cap} (must be above the floor "
                f"{tier.notional_floor})"
            )
        if not _finite(tier.maintenance_rate) or not ZERO <= tier.maintenance_rate < 1:
            tail.append(
                f"{tier_where}: maintenance_rate = {tier.maintenance_rate} (must be in [0, 1))"
            )
        tail.extend(_non_negative(tier_where, "maintenance_deduction", tier.maintenance_deduction))
        tail.extend(
            _check(
                tier_where,
                "max_leverage",
                tier.max_leverage,
                floor=ZERO,
                strict=True,
                want="a finite number > 0",
            )
        )
        if _finite(tier.notional_floor) and tier.notional_floor < previous_cap:
            tail.append(f"{tier_where}: notional_floor = {tier.notional_floor} (tiers overlap)")
        previous_cap = tier.notional_cap if _finite(tier.notional_cap) else previous_cap
    return tuple(head), tuple(tail)


# A spec's own verdict by (venue, the spec object): specs are immutable and a venue hands out the
# same objects tick after tick, so each is checked once (the memo holds the spec, so its id is
# never reused while remembered; at the limit it starts over). Only an identical object hits: an
# equal spec written differently (1.0 vs 1.00) gets its own messages.
_SPEC_VERDICTS: dict[tuple[str, int], tuple[MarketSpec, tuple[str, ...], tuple[str, ...]]] = {}
SPEC_VERDICTS_LIMIT = 4096


def _spec_verdict(venue: str, spec: MarketSpec) -> tuple[tuple[str, ...], tuple[str, ...]]:
    key = (venue, id(spec))
    found = _SPEC_VERDICTS.get(key)
    if found is not None and found[0] is spec:
        return found[1], found[2]
    head, tail = _spec_problems(f"{venue} market {spec.symbol}", spec)
    if len(_SPEC_VERDICTS) >= SPEC_VERDICTS_LIMIT:
        _SPEC_VERDICTS.clear()
    _SPEC_VERDICTS[key] = (spec, head, tail)
    return head, tail


def market_problems(venue: str, spec: MarketSpec, mark: Decimal | None) -> list[str]:
    """The problems of one market: its spec's (remembered per spec object) and its mark's."""
    head, tail = _spec_verdict(venue, spec)
    problems = list(head)
    if mark is not None and _finite(mark) and mark > ZERO:
        where = f"{venue} market {spec.symbol}"
        if _finite(spec.price_tick) and spec.price_tick > mark:
            problems.append(
                f"{where}: price_tick = {spec.price_tick} (must be below the mark price {mark})"
            )
        if _finite(spec.amount_step) and spec.amount_step * mark > LARGEST_STEP_NOTIONAL:
            problems.append(
                f"{where}: amount_step = {spec.amount_step} (one step is worth more than "
                f"{LARGEST_STEP_NOTIONAL} at the mark price {mark})"
            )
    problems.extend(tail)
    return problems


def _data_problems(venue: str, data: MarketData) -> Iterator[str]:
    where = f"{venue} market data {data.symbol}"
    yield from _positive(where, "mark_price", data.mark_price)
    yield from _positive(where, "index_price", data.index_price)
    yield from _positive(where, "best_bid", data.best_bid)
    yield from _positive(where, "best_ask", data.best_ask)
    yield from _non_negative(where, "bid_depth", data.bid_depth)
    yield from _non_negative(where, "ask_depth", data.ask_depth)
    yield from _bounded(where, "funding_rate", data.funding_rate, LARGEST_FUNDING_RATE)
    yield from _bounded(
        where, "predicted_funding_rate", data.predicted_funding_rate, LARGEST_FUNDING_RATE
    )


def _position_problems(venue: str, position: Position) -> Iterator[str]:
    where = f"{venue} position {position.symbol} {position.side.value}"
    yield from _positive(where, "quantity", position.quantity)
    yield from _positive(where, "mark_price", position.mark_price)
    yield from _non_negative(where, "entry_price", position.entry_price)
    yield from _non_negative(where, "isolated_margin", position.isolated_margin)
    yield from _non_negative(where, "venue_liquidation_price", position.venue_liquidation_price)
    yield from _non_negative(where, "venue_maintenance_margin", position.venue_maintenance_margin)
    if position.leverage is not None and (
        not _finite(position.leverage)
        or position.leverage <= ZERO
        or position.leverage > LARGEST_LEVERAGE
    ):
        yield f"{where}: leverage = {position.leverage} (must be in (0, {LARGEST_LEVERAGE}])"
    if not _finite(position.accumulated_funding):
        yield f"{where}: accumulated_funding = {position.accumulated_funding} (must be finite)"
    if position.margin_mode is MarginMode.ISOLATED and position.isolated_margin is None:
        yield f"{where}: isolated_margin is unknown (an isolated position needs its margin)"


def _balance_problems(venue: str, balance: Balance) -> Iterator[str]:
    where = f"{venue} balance {balance.currency}"
    if not _finite(balance.wallet_balance):
        yield f"{where}: wallet_balance = {balance.wallet_balance} (must be a finite number)"
    for field, value in (
        ("venue_equity", balance.venue_equity),
        ("venue_free_collateral", balance.venue_free_collateral),
    ):
        if value is not None and not _finite(value):
            yield f"{where}: {field} = {value} (must be a finite number)"
    yield from _non_negative(where, "venue_maintenance_margin", balance.venue_maintenance_margin)


def snapshot_problems(snapshot: AccountSnapshot) -> tuple[str, ...]:
    """Every reason not to act on `snapshot`: out-of-domain numbers and self-contradictions."""
    venue = snapshot.venue
    problems: list[str] = []
    seen: set[PositionKey] = set()
    for position in snapshot.positions:
        if position.key in seen:
            problems.append(
                f"{venue} position {position.symbol} {position.side.value} is reported twice"
            )
        seen.add(position.key)
        problems.extend(_position_problems(venue, position))
        if position.symbol not in snapshot.markets:
            problems.append(
                f"{venue} position {position.symbol} {position.side.value} has no market spec"
            )
    marks = {p.symbol: p.mark_price for p in snapshot.positions}
    for symbol, data in snapshot.market_data.items():
        marks.setdefault(symbol, data.mark_price)
        problems.extend(_data_problems(venue, data))
    for spec in snapshot.markets.values():
        problems.extend(market_problems(venue, spec, marks.get(spec.symbol)))
    problems.extend(_balance_problems(venue, snapshot.balance))
    return tuple(problems)
