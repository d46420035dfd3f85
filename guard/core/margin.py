"""Venue-agnostic risk metrics on an account snapshot; pure. Margin ratio = maintenance ÷ equity,
liquidation at >= 1 (dYdX: > 1); liquidation distance = signed fraction of mark, > 0 while safe.

Normalised conventions (every venue module maps its own into these; see docs/margin.md):

* Money is in the settlement currency; quantities are base units (OKX contracts × ctVal).
* Position.mark_price is the price the venue margins with (the oracle on dYdX).
* Cross equity = wallet balance (cross collateral excluding uPnL and isolated margins) + the
  unrealized PnL of cross positions; an isolated position's equity = its posted margin + its uPnL.
* Maintenance of a position = notional × tier rate − tier deduction, floored at 0.
* Margin ratio = maintenance ÷ equity of the pool (INFINITY when equity <= 0 and maintenance > 0);
  liquidation at >= 1 (dYdX strictly > 1). OKX's native `mgnRatio` is the inverse.
* Liquidation price: the mark at which the position's pool equity equals its maintenance, the
  pool's other positions (their PnL and maintenance) held constant, tiers iterated; a venue may
  publish its own isolated formula (VenueRules.isolated_liquidation_price, e.g. Bybit).
* Liquidation distance = side·(mark − liquidation)/mark, > 0 while safe.
* Leverage = gross notional ÷ equity. Funding: a positive rate means longs pay; a position's
  funding per interval = side × quantity × price × rate (price = oracle where the venue funds at
  the oracle and the snapshot has one, else mark); annualised = signed rate × (365 d ÷ interval).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal, Rounded, localcontext

from guard.core.domain import (
    INFINITY,
    ONE,
    ZERO,
    AccountSnapshot,
    MarginMode,
    MarginTier,
    MarketSpec,
    Position,
    PositionKey,
    Side,
)
from guard.core.venues.base import VenueRules, maintenance_margin

YEAR = timedelta(days=365)
_Key = tuple[str, Side]  # (symbol, side): a PositionKey as a plain tuple


@dataclass(frozen=True, slots=True)
class PositionMetrics:
    """Risk metrics of one position; money in the settlement currency, fractions as Decimal."""

    key: PositionKey
    quantity: Decimal
    entry_price: Decimal
    mark_price: Decimal
    margin_mode: MarginMode
    notional: Decimal
    unrealized_pnl: Decimal
    maintenance_margin: Decimal
    initial_margin: Decimal
    pool_equity: Decimal  # cross: the account's cross equity; isolated: this position's equity
    margin_ratio: Decimal  # of the position's margin pool (cross: the whole cross pool)
    liquidation_price: Decimal | None  # None: no positive price liquidates it
    liquidation_distance: Decimal | None  # s·(mark − liq)/mark; None when liq price is None
    leverage: Decimal  # notional ÷ pool equity (INFINITY when that equity is <= 0)
    unrealized_loss_pct: Decimal  # loss as a fraction of entry notional, 0 when in profit
    funding_per_interval: Decimal  # paid per funding interval (positive: this position pays)
    funding_annualised: Decimal  # funding rate annualised, signed so positive means it pays
    venue_liquidation_price: Decimal | None


@dataclass(frozen=True, slots=True)
class AccountMetrics:
    """Risk metrics of a whole account."""

    equity: Decimal  # cross equity + every isolated position's equity
    cross_equity: Decimal  # wallet balance + unrealized PnL of cross positions
    maintenance_margin: Decimal  # cross + isolated
    cross_maintenance_margin: Decimal
    margin_ratio: Decimal  # total maintenance ÷ total equity
    cross_margin_ratio: Decimal  # the cross pool alone (0 without cross positions)
    free_collateral: Decimal  # cross equity − cross initial margin
    leverage: Decimal  # gross notional ÷ equity
    gross_exposure: Decimal
    net_exposure: Decimal
    positions: tuple[PositionMetrics, ...]
    _by_key: dict[PositionKey, PositionMetrics] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        for metrics in self.positions:  # the first one per key, like a scan from the front
            self._by_key.setdefault(metrics.key, metrics)

    def position(self, key: PositionKey) -> PositionMetrics | None:
        return self._by_key.get(key)

    @property
    def worst_liquidation_distance(self) -> Decimal | None:
        distances = [p.liquidation_distance for p in self.positions]
        known = [d for d in distances if d is not None]
        return min(known) if known else None


def ratio(numerator: Decimal, denominator: Decimal) -> Decimal:
    """numerator ÷ denominator, INFINITY when the denominator is not positive and numerator is."""
    if denominator > ZERO:
        return numerator / denominator
    return INFINITY if numerator > ZERO else ZERO


def initial_margin(position: Position, market: MarketSpec) -> Decimal:
    """Notional ÷ leverage (position leverage, else the tier's maximum leverage)."""
    leverage = position.leverage or market.tier_for(position.notional).max_leverage
    if leverage is None or leverage <= ZERO:
        return maintenance_margin(position, market)
    return position.notional / leverage


def isolated_equity(position: Position) -> Decimal:
    """An isolated position's own equity: its posted margin plus its unrealized PnL."""
    return (position.isolated_margin or ZERO) + position.unrealized_pnl


def cross_equity(snapshot: AccountSnapshot) -> Decimal:
    """Wallet balance plus the unrealized PnL of every cross position."""
    upnl = sum(
        (p.unrealized_pnl for p in snapshot.positions if p.margin_mode is MarginMode.CROSS), ZERO
    )
    return snapshot.balance.wallet_balance + upnl


def _solve_price(fixed: Decimal, position: Position, tier: MarginTier) -> Decimal:
    """Price p at which fixed + s·q·(p − e) = q·p·m − d, i.e. pool equity meets maintenance."""
    s = Decimal(position.side.sign)
    q = position.quantity
    denominator = q * tier.maintenance_rate - s * q
    if denominator == ZERO:
        return INFINITY
    return (fixed + tier.maintenance_deduction - s * q * position.entry_price) / denominator


def liquidation_price_for(fixed: Decimal, position: Position, market: MarketSpec) -> Decimal | None:
    """Solve pool equity = maintenance for the position's price, iterating over tiers.

    `fixed` is the part of the pool's equity that does not move with this position's price, net
    of the maintenance of the pool's other positions (held constant). Returns None when no
    positive price reaches the condition.
    """
    if position.quantity <= ZERO:
        return None
    current = market.tier_for(position.notional)
    candidate = _solve_price(fixed, position, current)
    if candidate > ZERO and market.tier_for(position.quantity * candidate) == current:
        return candidate
    for tier in market.tiers:
        price = _solve_price(fixed, position, tier)
        if price > ZERO and market.tier_for(position.quantity * price) == tier:
            return price
    return candidate if candidate > ZERO else None


def liquidation_price(
    position: Position, snapshot: AccountSnapshot, rules: VenueRules
) -> Decimal | None:
    """The mark price of this position at which its margin pool reaches maintenance."""
    market = snapshot.market(position.symbol)
    if position.margin_mode is MarginMode.ISOLATED:
        if rules.isolated_liquidation_price is not None:
            return rules.isolated_liquidation_price(position, market)
        return liquidation_price_for(position.isolated_margin or ZERO, position, market)
    return liquidation_price_for(_cross_fixed(position, _CrossPool.of(snapshot)), position, market)


@dataclass(frozen=True, slots=True)
class _CrossPool:
    """What the cross pool holds constant while one position key's price moves: the wallet, and
    per (symbol, side) the other cross positions' summed unrealized PnL and maintenance."""

    wallet: Decimal
    others: dict[_Key, tuple[Decimal, Decimal]]  # key -> (other PnL, other mm)

    @staticmethod
    def of(snapshot: AccountSnapshot) -> _CrossPool:
        cross = [p for p in snapshot.positions if p.margin_mode is MarginMode.CROSS]
        keys = [(p.symbol, p.side) for p in cross]
        pnls = _sums_without(keys, [p.unrealized_pnl for p in cross])
        mms = _sums_without(keys, [maintenance_margin(p, snapshot.market(p.symbol)) for p in cross])
        others = {key: (pnls[key], mms[key]) for key in pnls}
        return _CrossPool(snapshot.balance.wallet_balance, others)


def _cross_fixed(position: Position, pool: _CrossPool) -> Decimal:
    """Wallet + the other cross positions' PnL − their maintenance (the part held constant)."""
    other_pnl, other_mm = pool.others[(position.symbol, position.side)]
    return pool.wallet + other_pnl - other_mm


def _sums_without(keys: list[_Key], values: list[Decimal]) -> dict[_Key, Decimal]:
    """Per distinct key: ZERO + the values of every other key, left to right. O(n) when no partial
    sum can round: the total minus the key's own values, quantized to the exponent the left-to-right
    sum has (the finest of 0 and the others'), hence the same Decimal; else that sum, O(n²)."""
    if not _sums_exactly(values):
        return {
            key: _sum(v for k, v in zip(keys, values, strict=True) if k != key)
            for key in dict.fromkeys(keys)
        }
    own: dict[_Key, Decimal] = {}
    finest: dict[_Key, int] = {}  # each key's finest exponent (0 at most, as ZERO's)
    for key, value in zip(keys, values, strict=True):
        own[key] = own.get(key, ZERO) + value
        finest[key] = min(finest.get(key, 0), int(value.as_tuple().exponent))
    if not own:
        return {}
    total = _sum(values)
    ranked = heapq.nsmallest(2, finest.items(), key=lambda item: item[1])
    first, lowest = ranked[0]
    runner_up = ranked[1][1] if len(ranked) > 1 else 0  # the finest of every key but `first`
    sums: dict[_Key, Decimal] = {}
    quanta: dict[int, Decimal] = {}
    for key, mine in own.items():
        exponent = runner_up if key == first else lowest
        if exponent not in quanta:
            quanta[exponent] = Decimal((0, (1,), exponent))
        sums[key] = (total - mine).quantize(quanta[exponent])
    return sums


def _sums_exactly(values: list[Decimal]) -> bool:
    """True when the current context adds up any subset of `values` from ZERO, in any order,
    without rounding: it adds up their magnitudes without rounding, and no such sum is larger."""
    with localcontext() as context:
        context.clear_flags()
        magnitude = _sum(abs(value) for value in values)
        return magnitude.is_finite() and not context.flags[Rounded]


def liquidation_distance(position: Position, liq_price: Decimal | None) -> Decimal | None:
    """s·(mark − liq)/mark: the fraction the mark may move against the position before liquidation."""
    if liq_price is None or position.mark_price <= ZERO:
        return None
    return position.side.sign * (position.mark_price - liq_price) / position.mark_price


def funding_per_interval(
    position: Position, rate: Decimal | None, price: Decimal | None = None
) -> Decimal:
    """Funding this position pays per interval (negative: receives); positive rate: longs pay.

    `price` is the funding price basis (the oracle on dYdX/Hyperliquid); the mark by default.
    """
    if rate is None:
        return ZERO
    notional = position.notional if price is None else position.quantity * price
    return position.side.sign * notional * rate


def annualise(rate_per_interval: Decimal, interval: timedelta) -> Decimal:
    """A per-interval rate scaled to 365 days."""
    return rate_per_interval * Decimal(YEAR / interval)


def _position_metrics(
    position: Position,
    snapshot: AccountSnapshot,
    rules: VenueRules,
    pool_equity: Decimal,
    pool_maintenance: Decimal,
    pool: _CrossPool | None = None,
) -> PositionMetrics:
    market = snapshot.market(position.symbol)
    if pool is not None and position.margin_mode is MarginMode.CROSS:
        fixed = _cross_fixed(position, pool)
        liq = liquidation_price_for(fixed, position, market)
    else:
        liq = liquidation_price(position, snapshot, rules)
    data = snapshot.market_data.get(position.symbol)
    rate = data.funding_rate if data is not None else None
    funding_price = None
    if rules.funding_price_basis == "oracle" and data is not None:
        funding_price = data.index_price
    entry_notional = position.quantity * position.entry_price
    loss = max(-position.unrealized_pnl, ZERO)
    signed_rate = position.side.sign * (rate or ZERO)
    return PositionMetrics(
        key=position.key,
        quantity=position.quantity,
        entry_price=position.entry_price,
        mark_price=position.mark_price,
        margin_mode=position.margin_mode,
        notional=position.notional,
        unrealized_pnl=position.unrealized_pnl,
        maintenance_margin=maintenance_margin(position, market),
        initial_margin=initial_margin(position, market),
        pool_equity=pool_equity,
        margin_ratio=ratio(pool_maintenance, pool_equity),
        liquidation_price=liq,
        liquidation_distance=liquidation_distance(position, liq),
        leverage=ratio(position.notional, pool_equity),
        unrealized_loss_pct=ratio(loss, entry_notional),
        funding_per_interval=funding_per_interval(position, rate, funding_price),
        funding_annualised=annualise(signed_rate, market.funding_interval),
        venue_liquidation_price=position.venue_liquidation_price,
    )


def measure(snapshot: AccountSnapshot, rules: VenueRules) -> AccountMetrics:
    """Every account and position metric of `snapshot` under `rules`."""
    cross = [p for p in snapshot.positions if p.margin_mode is MarginMode.CROSS]
    isolated = [p for p in snapshot.positions if p.margin_mode is MarginMode.ISOLATED]
    c_equity = cross_equity(snapshot)
    c_mm = _sum(maintenance_margin(p, snapshot.market(p.symbol)) for p in cross)
    c_im = _sum(initial_margin(p, snapshot.market(p.symbol)) for p in cross)
    per_position: list[PositionMetrics] = []
    pool = _CrossPool.of(snapshot)
    for position in snapshot.positions:
        if position.margin_mode is MarginMode.CROSS:
            per_position.append(_position_metrics(position, snapshot, rules, c_equity, c_mm, pool))
        else:
            mm = maintenance_margin(position, snapshot.market(position.symbol))
            equity = isolated_equity(position)
            per_position.append(_position_metrics(position, snapshot, rules, equity, mm))
    i_equity = _sum(isolated_equity(p) for p in isolated)
    i_mm = _sum(m.maintenance_margin for m in per_position if m.margin_mode is MarginMode.ISOLATED)
    equity = c_equity + i_equity
    gross = _sum(p.notional for p in snapshot.positions)
    net = _sum(p.side.sign * p.notional for p in snapshot.positions)
    return AccountMetrics(
        equity=equity,
        cross_equity=c_equity,
        maintenance_margin=c_mm + i_mm,
        cross_maintenance_margin=c_mm,
        margin_ratio=ratio(c_mm + i_mm, equity),
        cross_margin_ratio=ratio(c_mm, c_equity),
        free_collateral=c_equity - c_im,
        leverage=ratio(gross, equity),
        gross_exposure=gross,
        net_exposure=net,
        positions=tuple(per_position),
    )


def liquidatable_pools(snapshot: AccountSnapshot, rules: VenueRules) -> tuple[PositionKey, ...]:
    """Positions whose margin pool meets the venue's liquidation condition right now.

    A liquidatable cross pool yields every cross position; an isolated pool yields its own.
    """
    hit: list[PositionKey] = []
    cross = [p for p in snapshot.positions if p.margin_mode is MarginMode.CROSS]
    c_mm = _sum(maintenance_margin(p, snapshot.market(p.symbol)) for p in cross)
    if cross and rules.is_liquidatable(cross_equity(snapshot), c_mm):
        hit.extend(p.key for p in cross)
    for position in snapshot.positions:
        if position.margin_mode is MarginMode.ISOLATED:
            mm = maintenance_margin(position, snapshot.market(position.symbol))
            if rules.is_liquidatable(isolated_equity(position), mm):
                hit.append(position.key)
    return tuple(hit)


def _sum(values: Iterable[Decimal]) -> Decimal:
    return sum(values, ZERO)


__all__ = [
    "ONE",
    "AccountMetrics",
    "PositionMetrics",
    "annualise",
    "cross_equity",
    "funding_per_interval",
    "initial_margin",
    "isolated_equity",
    "liquidatable_pools",
    "liquidation_distance",
    "liquidation_price",
    "liquidation_price_for",
    "measure",
    "ratio",
]
