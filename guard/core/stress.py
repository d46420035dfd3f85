"""Stress shocks on a snapshot and the minimal reduction that survives them; pure, Decimal only.

Invariants: shocks only move marks (never quantities); a reduction never exceeds a position's size;
the solver is deterministic and returns a reduction that was checked to survive (or says it cannot).
Fees and slippage of the reduction itself are ignored; the margin of safety is there to cover them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_CEILING, Decimal
from fnmatch import fnmatchcase
from typing import Literal

from guard.core.domain import (
    ONE,
    ZERO,
    AccountSnapshot,
    Balance,
    MarginMode,
    MarketSpec,
    Position,
    PositionKey,
    Side,
    frozen_map,
)
from guard.core.margin import cross_equity, isolated_equity
from guard.core.venues.base import VenueRules, maintenance_margin

# Bisection stops when the bracket on the reduction parameter is narrower than this. The
# parameter is a fraction of the pool's selected size (pro-rata) or a position count plus a
# fraction (priority), so the found reduction is within PRECISION of a position's size above the
# true minimum, and then rounded UP to the market's amount step (capped at the position size).
PRECISION = Decimal("1e-9")
MAX_ITERATIONS = 80
CROSS_POOL = "cross"


@dataclass(frozen=True, slots=True)
class Shock:
    """A % move of marks. Without an anchor every selected symbol moves `move` × its beta (1 by
    default); with an anchor the anchor moves `move` and others move `move` × beta, where a
    symbol without a beta moves `move` × `default_beta` (0: it stays put)."""

    name: str
    move: Decimal  # -0.3 is a 30 % fall
    symbols: tuple[str, ...] = ("*",)  # globs of symbols the shock touches (without an anchor)
    anchor: str | None = None
    betas: Mapping[str, Decimal] = field(default_factory=frozen_map)  # symbol glob -> beta
    default_beta: Decimal = ZERO
    # symbol -> 1 + its move: each symbol is matched against the globs once per Shock
    _factors: dict[str, Decimal] = field(
        init=False, repr=False, compare=False, hash=False, default_factory=dict
    )

    def factor_of(self, symbol: str) -> Decimal:
        """ONE + move_of(symbol), remembered per symbol (a pure function of the shock)."""
        factor = self._factors.get(symbol)
        if factor is None:
            factor = self._factors[symbol] = ONE + self.move_of(symbol)
        return factor

    def move_of(self, symbol: str) -> Decimal:
        """The fractional mark move this shock applies to `symbol`."""
        beta = next((b for pattern, b in self.betas.items() if _matches(symbol, pattern)), None)
        if self.anchor is not None:
            if symbol == self.anchor:
                return self.move
            return self.move * (beta if beta is not None else self.default_beta)
        if not any(_matches(symbol, pattern) for pattern in self.symbols):
            return ZERO
        return self.move * (beta if beta is not None else ONE)


def _matches(symbol: str, pattern: str) -> bool:
    return pattern == "*" or fnmatchcase(symbol, pattern)


@dataclass(frozen=True, slots=True)
class PoolOutcome:
    """One margin pool after a shock: the cross pool or one isolated position."""

    pool: str  # "cross" or the isolated position's key
    equity: Decimal
    maintenance_margin: Decimal
    liquidated: bool  # meets the venue's liquidation condition (with the margin of safety)
    positions: tuple[PositionKey, ...]


@dataclass(frozen=True, slots=True)
class StressResult:
    """The account after one shock."""

    shock: Shock
    equity: Decimal
    maintenance_margin: Decimal
    pools: tuple[PoolOutcome, ...]

    @property
    def survives(self) -> bool:
        return not any(pool.liquidated for pool in self.pools)

    @property
    def liquidated_positions(self) -> tuple[PositionKey, ...]:
        return tuple(key for pool in self.pools if pool.liquidated for key in pool.positions)

    @property
    def account_liquidated(self) -> bool:
        return any(pool.liquidated and pool.pool == CROSS_POOL for pool in self.pools)


@dataclass(frozen=True, slots=True)
class Solution:
    """The reduction found for one shock; `survives` is False when even the maximum allowed
    reduction (closing every selectable position) does not survive."""

    shock: Shock
    reductions: Mapping[PositionKey, Decimal]
    survives: bool
    before: StressResult
    after: StressResult


def shocked(snapshot: AccountSnapshot, shock: Shock) -> AccountSnapshot:
    """The snapshot with marks moved by the shock (a mark never goes below zero)."""
    factor = shock.factor_of
    positions = tuple(
        replace(p, mark_price=max(p.mark_price * factor(p.symbol), ZERO))
        for p in snapshot.positions
    )
    data = {
        symbol: replace(d, mark_price=max(d.mark_price * factor(symbol), ZERO))
        for symbol, d in snapshot.market_data.items()
    }
    return replace(snapshot, positions=positions, market_data=frozen_map(data))


# what the stress pass reads of each position, read once for every shock of an evaluation: its
# symbol, mark, quantity, side's sign, entry, market, whether it is cross, key, isolated margin
_Row = tuple[str, Decimal, Decimal, int, Decimal, MarketSpec, bool, PositionKey, Decimal]


def _rows(snapshot: AccountSnapshot) -> list[_Row]:
    market = snapshot.markets.get  # Side.sign and the rest without a property call per shock
    # fmt: off
    return [
        (p.symbol, p.mark_price, p.quantity, 1 if p.side is Side.LONG else -1, p.entry_price,
         market(p.symbol) or snapshot.market(p.symbol), p.margin_mode is MarginMode.CROSS, p.key,
         p.isolated_margin or ZERO)
        for p in snapshot.positions
    ]
    # fmt: on


def _shocked_pools(
    rows: list[_Row], wallet: Decimal, shock: Shock, venue: VenueRules, margin_of_safety: Decimal
) -> tuple[PoolOutcome, ...]:
    """`assess(shocked(snapshot, shock))` computed in one pass without rebuilding positions: the
    same sums in the same order (cross pool first, then each isolated position), so the outcome
    is identical; it is the hot path of the stress rule on a healthy account. (Inlined: the
    shocked mark, PnL and tiered maintenance as in shocked, unrealized_pnl and maintenance_at.)"""
    factor = ONE + margin_of_safety
    factors = shock._factors  # factor_of's memory, read directly (a method call per position)
    cross_pnl = ZERO
    cross_mm = ZERO
    cross_keys: list[PositionKey] = []
    isolated: list[PoolOutcome] = []
    for symbol, mark, quantity, sign, entry, market, cross, key, margin in rows:
        moved = factors.get(symbol)
        if moved is None:
            moved = shock.factor_of(symbol)
        mark = mark * moved
        if mark < ZERO:  # max(mark, ZERO) without the call
            mark = ZERO
        pnl = sign * (mark - entry) * quantity
        notional = quantity * mark
        for tier in market.tiers:  # market.tier_for, inlined
            if notional < tier.notional_cap:
                break
        else:  # above every cap: the last tier (no tiers: tier_for raises)
            tier = market.tier_for(notional)
        mm = notional * tier.maintenance_rate - tier.maintenance_deduction
        if mm < ZERO:
            mm = ZERO
        if cross:
            cross_pnl += pnl
            cross_mm += mm
            cross_keys.append(key)
        else:
            equity = margin + pnl
            liquidated = venue.is_liquidatable(equity, mm * factor)
            isolated.append(PoolOutcome(str(key), equity, mm, liquidated, (key,)))
    pools: list[PoolOutcome] = []
    if cross_keys:
        equity = wallet + cross_pnl
        liquidated = venue.is_liquidatable(equity, cross_mm * factor)
        pools.append(PoolOutcome(CROSS_POOL, equity, cross_mm, liquidated, tuple(cross_keys)))
    return (*pools, *isolated)


def assess(
    snapshot: AccountSnapshot, venue: VenueRules, margin_of_safety: Decimal = ZERO
) -> tuple[PoolOutcome, ...]:
    """Every margin pool of `snapshot`: liquidated when equity meets the venue condition against
    maintenance × (1 + margin_of_safety)."""
    factor = ONE + margin_of_safety
    pools: list[PoolOutcome] = []
    cross = [p for p in snapshot.positions if p.margin_mode is MarginMode.CROSS]
    if cross:
        equity = cross_equity(snapshot)
        mm = sum((maintenance_margin(p, snapshot.market(p.symbol)) for p in cross), ZERO)
        pools.append(
            PoolOutcome(
                CROSS_POOL,
                equity,
                mm,
                venue.is_liquidatable(equity, mm * factor),
                tuple(p.key for p in cross),
            )
        )
    for position in snapshot.positions:
        if position.margin_mode is MarginMode.ISOLATED:
            equity = isolated_equity(position)
            mm = maintenance_margin(position, snapshot.market(position.symbol))
            pools.append(
                PoolOutcome(
                    str(position.key),
                    equity,
                    mm,
                    venue.is_liquidatable(equity, mm * factor),
                    (position.key,),
                )
            )
    return tuple(pools)


def stress(
    snapshot: AccountSnapshot, shock: Shock, venue: VenueRules, margin_of_safety: Decimal = ZERO
) -> StressResult:
    """Post-shock equity, maintenance requirement and which pools would be liquidated."""
    return stress_each(snapshot, (shock,), venue, margin_of_safety)[0]


def stress_each(
    snapshot: AccountSnapshot, shocks: Sequence[Shock], venue: VenueRules, safety: Decimal = ZERO
) -> tuple[StressResult, ...]:
    """stress() of every shock in turn, the positions read once for all of them."""
    rows, wallet = _rows(snapshot), snapshot.balance.wallet_balance
    found: list[StressResult] = []
    for shock in shocks:
        pools = _shocked_pools(rows, wallet, shock, venue, safety)
        equity = sum((p.equity for p in pools), ZERO)
        mm = sum((p.maintenance_margin for p in pools), ZERO)
        found.append(StressResult(shock, equity, mm, pools))
    return tuple(found)


def reduced(
    snapshot: AccountSnapshot, reductions: Mapping[PositionKey, Decimal]
) -> AccountSnapshot:
    """The snapshot after reducing positions at their marks, fees aside.

    A cross reduction realises its share of unrealized PnL into the wallet (equity unchanged); an
    isolated reduction releases its share of the posted margin and realised PnL to the wallet.
    """
    wallet = snapshot.balance.wallet_balance
    positions: list[Position] = []
    for position in snapshot.positions:
        quantity = min(reductions.get(position.key, ZERO), position.quantity)
        if quantity <= ZERO:
            positions.append(position)
            continue
        share = quantity / position.quantity
        wallet += position.unrealized_pnl * share
        remaining = position.quantity - quantity
        margin = position.isolated_margin
        if position.margin_mode is MarginMode.ISOLATED and margin is not None:
            wallet += margin * share
            margin = margin - margin * share
        if remaining > ZERO:
            positions.append(replace(position, quantity=remaining, isolated_margin=margin))
    balance: Balance = replace(snapshot.balance, wallet_balance=wallet)
    return replace(snapshot, balance=balance, positions=tuple(positions))


Order = Literal["pro_rata", "priority"]


def minimal_reduction(
    snapshot: AccountSnapshot,
    keys: Sequence[PositionKey],
    acceptable: Callable[[AccountSnapshot], bool],
    order: Order = "pro_rata",
) -> tuple[dict[PositionKey, Decimal], bool]:
    """The smallest reduction of `keys` (pro-rata, or closing them one by one in the given order)
    after which `acceptable(reduced snapshot)` holds, assuming it is monotone along that path.

    Bisection on Decimal to PRECISION; quantities rounded up to each market's step, never above
    the position. Returns (reductions, True) or, when even closing every key is not acceptable,
    (close every key, False).
    """
    positions = [p for key in keys if (p := snapshot.position(key)) is not None]
    if acceptable(snapshot):
        return {}, True
    if not positions:
        return {}, False
    top = ONE if order == "pro_rata" else Decimal(len(positions))

    def at(parameter: Decimal) -> dict[PositionKey, Decimal]:
        return _quantities(snapshot, positions, parameter, order)

    if not acceptable(reduced(snapshot, at(top))):
        return at(top), False
    low, high = ZERO, top
    for _ in range(MAX_ITERATIONS):
        if high - low <= PRECISION:
            break
        middle = (low + high) / 2
        if acceptable(reduced(snapshot, at(middle))):
            high = middle
        else:
            low = middle
    return at(high), True


def _quantities(
    snapshot: AccountSnapshot, positions: Sequence[Position], parameter: Decimal, order: Order
) -> dict[PositionKey, Decimal]:
    out: dict[PositionKey, Decimal] = {}
    for index, position in enumerate(positions):
        share = parameter if order == "pro_rata" else min(max(parameter - index, ZERO), ONE)
        if share <= ZERO:
            continue
        step = snapshot.market(position.symbol).amount_step
        wanted = position.quantity * share
        rounded = (wanted / step).to_integral_value(rounding=ROUND_CEILING) * step
        out[position.key] = min(rounded, position.quantity)
    return out


def survive(
    snapshot: AccountSnapshot,
    shock: Shock,
    venue: VenueRules,
    margin_of_safety: Decimal,
    keys: Sequence[PositionKey] | None = None,
    order: Order = "pro_rata",
    before: StressResult | None = None,
) -> Solution:
    """The minimal reduction after which `shock` liquidates no pool, with the margin of safety.

    Each pool is solved on its own: the cross pool by reducing its selected positions (pro-rata or
    in `keys` order); an isolated pool by its own position only. Scaling an isolated position
    scales its margin, maintenance and PnL alike, so an isolated pool that fails is closed.
    """
    allowed = list(keys) if keys is not None else [p.key for p in snapshot.positions]
    if before is None:  # `before`: this stress, when the caller has it (see stress_each)
        before = stress(snapshot, shock, venue, margin_of_safety)
    reductions: dict[PositionKey, Decimal] = {}
    ok = True
    for pool in before.pools:
        if not pool.liquidated:
            continue
        pool_keys = [k for k in allowed if k in pool.positions]
        name = pool.pool

        def fine(candidate: AccountSnapshot, name: str = name) -> bool:
            after = stress(candidate, shock, venue, margin_of_safety)
            return not any(p.liquidated for p in after.pools if p.pool == name)

        found, survived = minimal_reduction(snapshot, pool_keys, fine, order)
        reductions.update(found)
        ok = ok and survived
    # nothing to reduce: the snapshot after is the snapshot before (same stress, computed once)
    after = (
        stress(reduced(snapshot, reductions), shock, venue, margin_of_safety)
        if reductions
        else before
    )
    return Solution(shock, frozen_map(reductions), ok and after.survives, before, after)


__all__ = [
    "CROSS_POOL",
    "PRECISION",
    "Order",
    "PoolOutcome",
    "Shock",
    "Solution",
    "StressResult",
    "assess",
    "minimal_reduction",
    "reduced",
    "shocked",
    "stress",
    "stress_each",
    "survive",
]
