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

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

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
from guard.core.margin_pool import CrossPool, cross_fixed
from guard.core.venues.base import VenueRules, maintenance_margin

YEAR = timedelta(days=365)
_MINUS_ONE = Decimal(-1)


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
    cross_initial_margin: Decimal
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


def liquidation_price_for(
    fixed: Decimal, position: Position, market: MarketSpec, current: MarginTier | None = None
) -> Decimal | None:
    """Solve pool equity = maintenance for the position's price, iterating over tiers.

    `fixed` is the part of the pool's equity that does not move with this position's price, net
    of the maintenance of the pool's other positions (held constant). Returns None when no
    positive price reaches the condition. `current`: the tier of the position's notional, when
    the caller has it.

    Per tier: the price p at which fixed + s·q·(p − e) = q·p·m − d, i.e. (fixed + d − s·q·e) ÷
    (q·m − s·q); a quotient whose terms have opposite signs (or a zero numerator) is not
    positive, so it is not divided out (the division could only confirm that).
    """
    q = position.quantity
    if q <= ZERO:
        return None
    if current is None:
        current = market.tier_for(position.notional)
    sq = (ONE if position.side is Side.LONG else _MINUS_ONE) * q
    sqe = sq * position.entry_price
    denominator = q * current.maintenance_rate - sq
    if denominator == ZERO:
        candidate = INFINITY
    else:
        candidate = (fixed + current.maintenance_deduction - sqe) / denominator
    if candidate > ZERO:
        found = market.tier_for(q * candidate)
        if found is current or found == current:
            return candidate
    for tier in market.tiers:
        if tier is current:  # solved above, and it did not hold
            continue
        denominator = q * tier.maintenance_rate - sq
        if denominator == ZERO:
            price = INFINITY
        else:
            numerator = fixed + tier.maintenance_deduction - sqe
            if numerator == ZERO or (numerator > ZERO) is not (denominator > ZERO):
                continue  # the quotient is not positive
            price = numerator / denominator
        if price > ZERO:
            found = market.tier_for(q * price)
            if found is tier or found == tier:
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
    return liquidation_price_for(cross_fixed(position, CrossPool.of(snapshot)), position, market)


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
    return rate_per_interval * _intervals_a_year(interval)


_PER_YEAR: dict[timedelta, Decimal] = {}


def _intervals_a_year(interval: timedelta) -> Decimal:
    """Decimal(YEAR / interval), converted once per interval (a float to Decimal each time costs)."""
    found = _PER_YEAR.get(interval)
    if found is None:
        found = _PER_YEAR[interval] = Decimal(YEAR / interval)
    return found


# What measure needs of one position, computed once (the same Decimal operations as notional,
# unrealized_pnl, maintenance_margin and initial_margin, in the same order): the position, its
# market, the tier of its notional, its side's sign, notional, PnL, maintenance, initial margin.
_Terms = tuple[Position, MarketSpec, MarginTier, int, Decimal, Decimal, Decimal, Decimal]


def _terms(position: Position, market: MarketSpec) -> _Terms:
    quantity, mark = position.quantity, position.mark_price
    notional = quantity * mark
    sign = 1 if position.side is Side.LONG else -1  # Side.sign without the property call
    pnl = sign * (mark - position.entry_price) * quantity
    tier = market.tier_for(notional)
    mm = max(notional * tier.maintenance_rate - tier.maintenance_deduction, ZERO)
    leverage = position.leverage or tier.max_leverage
    im = mm if leverage is None or leverage <= ZERO else notional / leverage
    return position, market, tier, sign, notional, pnl, mm, im


def measure(snapshot: AccountSnapshot, rules: VenueRules) -> AccountMetrics:
    """Every account and position metric of `snapshot` under `rules`; each position's notional,
    PnL, tier and margins are computed once and shared by the pool sums and its own metrics
    (ratio's zero and infinity cases inlined for leverage and loss)."""
    market = snapshot.market
    terms = [_terms(p, market(p.symbol)) for p in snapshot.positions]
    cross = [t for t in terms if t[0].margin_mode is MarginMode.CROSS]
    isolated = [t for t in terms if t[0].margin_mode is MarginMode.ISOLATED]
    wallet = snapshot.balance.wallet_balance
    pnls, mms = [t[5] for t in cross], [t[6] for t in cross]
    c_equity = wallet + _sum(pnls)
    c_mm = _sum(mms)
    c_im = _sum([t[7] for t in cross])
    pool = CrossPool.from_terms(wallet, [(t[0].symbol, t[0].side) for t in cross], pnls, mms)
    c_ratio = ratio(c_mm, c_equity)
    by_oracle = rules.funding_price_basis == "oracle"
    data_of = snapshot.market_data.get
    per_position: list[PositionMetrics] = []
    for position, spec, tier, sign, notional, pnl, mm, im in terms:
        if position.margin_mode is MarginMode.CROSS:
            equity, pool_ratio = c_equity, c_ratio
            liq = liquidation_price_for(cross_fixed(position, pool), position, spec, tier)
        else:
            equity = (position.isolated_margin or ZERO) + pnl
            pool_ratio = ratio(mm, equity)
            liq = liquidation_price(position, snapshot, rules)
        data = data_of(position.symbol)
        rate = None if data is None else data.funding_rate
        funding_price = data.index_price if by_oracle and data is not None else None
        quantity, mark = position.quantity, position.mark_price
        entry_notional = quantity * position.entry_price
        loss = max(-pnl, ZERO)
        per_position.append(
            PositionMetrics(  # positionally, in field order (the hot path: 18 fields)
                position.key,
                quantity,
                position.entry_price,
                mark,
                position.margin_mode,
                notional,
                pnl,
                mm,
                im,
                equity,
                pool_ratio,
                liq,
                None if liq is None or mark <= ZERO else sign * (mark - liq) / mark,
                notional / equity if equity > ZERO else (INFINITY if notional > ZERO else ZERO),
                loss / entry_notional
                if entry_notional > ZERO
                else (INFINITY if loss > ZERO else ZERO),
                ZERO
                if rate is None
                else sign
                * (notional if funding_price is None else quantity * funding_price)
                * rate,
                sign * (rate or ZERO) * _intervals_a_year(spec.funding_interval),
                position.venue_liquidation_price,
            )
        )
    i_equity = _sum([(t[0].isolated_margin or ZERO) + t[5] for t in isolated])
    i_mm = _sum([t[6] for t in isolated])
    equity = c_equity + i_equity
    gross = _sum([t[4] for t in terms])
    net = _sum([t[3] * t[4] for t in terms])
    return AccountMetrics(
        equity=equity,
        cross_equity=c_equity,
        maintenance_margin=c_mm + i_mm,
        cross_maintenance_margin=c_mm,
        cross_initial_margin=c_im,
        margin_ratio=ratio(c_mm + i_mm, equity),
        cross_margin_ratio=c_ratio,
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
