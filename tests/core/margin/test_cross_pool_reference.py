"""margin.measure's O(n) cross pool equals, digit for digit, the former O(n²) one kept here (and
the former liquidation solver and annualisation: measure now computes each position's terms once)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from guard.core.domain import (
    ZERO,
    AccountSnapshot,
    MarginMode,
    MarginTier,
    MarketSpec,
    Position,
    Side,
)
from guard.core.margin import (
    YEAR,
    AccountMetrics,
    PositionMetrics,
    cross_equity,
    funding_per_interval,
    initial_margin,
    isolated_equity,
    liquidation_distance,
    liquidation_price,
    measure,
    ratio,
)
from guard.core.policy.kinds_levels import _pool_state
from guard.core.venues import bybit, dydx, paper
from guard.core.venues.base import VenueRules, maintenance_margin
from guard.core.venues.paper import DEFAULT_TIERS
from tests.builders import D, snapshot, spec

# ---- reference: margin.py's cross pool before issue 17 item 5, verbatim but for the names ----


def _solve_price(fixed: Decimal, position: Position, tier: MarginTier) -> Decimal:
    s = Decimal(position.side.sign)
    q = position.quantity
    denominator = q * tier.maintenance_rate - s * q
    if denominator == ZERO:
        return Decimal("Infinity")
    return (fixed + tier.maintenance_deduction - s * q * position.entry_price) / denominator


def liquidation_price_for(fixed: Decimal, position: Position, market: MarketSpec) -> Decimal | None:
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


def annualise(rate_per_interval: Decimal, interval: timedelta) -> Decimal:
    return rate_per_interval * Decimal(YEAR / interval)


@dataclass(frozen=True, slots=True)
class ReferenceCrossTerms:
    keys: tuple[tuple[str, Side], ...]
    pnls: tuple[Decimal, ...]
    maintenances: tuple[Decimal, ...]

    @staticmethod
    def of(snapshot: AccountSnapshot) -> ReferenceCrossTerms:
        cross = [p for p in snapshot.positions if p.margin_mode is MarginMode.CROSS]
        return ReferenceCrossTerms(
            tuple((p.symbol, p.side) for p in cross),
            tuple(p.unrealized_pnl for p in cross),
            tuple(maintenance_margin(p, snapshot.market(p.symbol)) for p in cross),
        )


def reference_cross_fixed(
    position: Position, terms: ReferenceCrossTerms, snapshot: AccountSnapshot
) -> Decimal:
    key = (position.symbol, position.side)
    other_pnl = ZERO
    other_mm = ZERO
    for other, pnl in zip(terms.keys, terms.pnls, strict=True):
        if other != key:
            other_pnl += pnl
    for other, mm in zip(terms.keys, terms.maintenances, strict=True):
        if other != key:
            other_mm += mm
    return snapshot.balance.wallet_balance + other_pnl - other_mm


def reference_liquidation_price(
    position: Position, snapshot: AccountSnapshot, rules: VenueRules
) -> Decimal | None:
    market = snapshot.market(position.symbol)
    if position.margin_mode is MarginMode.ISOLATED:
        if rules.isolated_liquidation_price is not None:
            return rules.isolated_liquidation_price(position, market)
        return liquidation_price_for(position.isolated_margin or ZERO, position, market)
    return liquidation_price_for(
        reference_cross_fixed(position, ReferenceCrossTerms.of(snapshot), snapshot),
        position,
        market,
    )


def reference_position_metrics(
    position: Position,
    snapshot: AccountSnapshot,
    rules: VenueRules,
    pool_equity: Decimal,
    pool_maintenance: Decimal,
    terms: ReferenceCrossTerms | None = None,
) -> PositionMetrics:
    market = snapshot.market(position.symbol)
    if terms is not None and position.margin_mode is MarginMode.CROSS:
        fixed = reference_cross_fixed(position, terms, snapshot)
        liq = liquidation_price_for(fixed, position, market)
    else:
        liq = reference_liquidation_price(position, snapshot, rules)
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


def reference_measure(snapshot: AccountSnapshot, rules: VenueRules) -> AccountMetrics:
    cross = [p for p in snapshot.positions if p.margin_mode is MarginMode.CROSS]
    isolated = [p for p in snapshot.positions if p.margin_mode is MarginMode.ISOLATED]
    c_equity = cross_equity(snapshot)
    c_mm = sum((maintenance_margin(p, snapshot.market(p.symbol)) for p in cross), ZERO)
    c_im = sum((initial_margin(p, snapshot.market(p.symbol)) for p in cross), ZERO)
    per_position: list[PositionMetrics] = []
    terms = ReferenceCrossTerms.of(snapshot)
    for position in snapshot.positions:
        if position.margin_mode is MarginMode.CROSS:
            per_position.append(
                reference_position_metrics(position, snapshot, rules, c_equity, c_mm, terms)
            )
        else:
            mm = maintenance_margin(position, snapshot.market(position.symbol))
            equity = isolated_equity(position)
            per_position.append(reference_position_metrics(position, snapshot, rules, equity, mm))
    i_equity = sum((isolated_equity(p) for p in isolated), ZERO)
    i_mm = sum(
        (m.maintenance_margin for m in per_position if m.margin_mode is MarginMode.ISOLATED), ZERO
    )
    equity = c_equity + i_equity
    gross = sum((p.notional for p in snapshot.positions), ZERO)
    net = sum((p.side.sign * p.notional for p in snapshot.positions), ZERO)
    return AccountMetrics(
        equity=equity,
        cross_equity=c_equity,
        maintenance_margin=c_mm + i_mm,
        cross_maintenance_margin=c_mm,
        cross_initial_margin=c_im,
        margin_ratio=ratio(c_mm + i_mm, equity),
        cross_margin_ratio=ratio(c_mm, c_equity),
        free_collateral=c_equity - c_im,
        leverage=ratio(gross, equity),
        gross_exposure=gross,
        net_exposure=net,
        positions=tuple(per_position),
    )


# ---- random pools ----

SYMBOLS = [f"S{i:02d}/USDT:USDT" for i in range(40)]
TIER_TABLES: list[tuple[MarginTier, ...]] = [
    DEFAULT_TIERS,
    (MarginTier(D(0), D("Infinity"), D("0.03")),),  # flat, dYdX-like
    (
        MarginTier(D(0), D(10_000), D("0.0065"), D(0), D(75)),
        MarginTier(D(10_000), D("Infinity"), D("0.0125"), D("62.5"), D(40)),
    ),
]
RULES = [paper.RULES, dydx.RULES, bybit.RULES]


def scaled(draw: st.DrawFn, low: int, high: int, places: int) -> Decimal:
    return Decimal(draw(st.integers(low, high))).scaleb(-places)


def price(draw: st.DrawFn, computed: bool) -> Decimal:
    """A venue-like price (few decimals) or, at times when `computed`, 28 significant digits (so
    that sums round: the pool's O(n) totals would differ, margin.py then sums as it used to)."""
    if computed and draw(st.booleans()):
        return D(draw(st.integers(1, 10**9))) / D(draw(st.integers(1, 10**4)))
    return scaled(draw, 1, 10**8, draw(st.integers(0, 6)))


@st.composite
def pools(draw: st.DrawFn) -> tuple[AccountSnapshot, VenueRules]:
    symbols = SYMBOLS[: draw(st.integers(1, len(SYMBOLS)))]
    computed = draw(st.booleans())
    held: list[Position] = []
    for _ in range(draw(st.integers(1, 60))):
        mode = draw(st.sampled_from([MarginMode.CROSS, MarginMode.CROSS, MarginMode.ISOLATED]))
        quantity = scaled(draw, 1, 10**7, draw(st.integers(0, 5)))
        entry = price(draw, computed)
        mark = entry * scaled(draw, 500, 1500, 3) if draw(st.booleans()) else price(draw, computed)
        leverage = D(draw(st.integers(1, 100))) if draw(st.booleans()) else None
        margin = quantity * entry / (leverage or D(10)) if mode is MarginMode.ISOLATED else None
        side = draw(st.sampled_from([Side.LONG, Side.SHORT]))
        held.append(
            Position(
                draw(st.sampled_from(symbols)), side, quantity, entry, mark, mode, leverage, margin
            )
        )
    markets = {s: spec(s, tiers=draw(st.sampled_from(TIER_TABLES))) for s in symbols}
    wallet = scaled(draw, -(10**9), 10**10, draw(st.integers(0, 8)))
    funding = {s: str(scaled(draw, -1000, 1000, 6)) for s in symbols}
    pool = snapshot(held, wallet=str(wallet), markets=markets, funding=funding)
    return pool, draw(st.sampled_from(RULES))


def assert_same(actual: object, expected: object, where: str) -> None:
    """Equal, and the same Decimal to the digit: sign, coefficient and exponent."""
    assert type(actual) is type(expected), where
    assert actual == expected, where
    if isinstance(actual, Decimal) and isinstance(expected, Decimal):
        assert actual.as_tuple() == expected.as_tuple(), where


@settings(max_examples=200, deadline=None)
@given(pools())
def test_measure_when_cross_pool_then_equal_to_reference(case: tuple[AccountSnapshot, VenueRules]):
    pool, rules = case
    actual, expected = measure(pool, rules), reference_measure(pool, rules)
    for f in fields(AccountMetrics):
        if f.name != "positions" and not f.name.startswith("_"):
            assert_same(getattr(actual, f.name), getattr(expected, f.name), f.name)
    assert len(actual.positions) == len(expected.positions)
    for index, (mine, theirs) in enumerate(zip(actual.positions, expected.positions, strict=True)):
        for f in fields(PositionMetrics):
            assert_same(getattr(mine, f.name), getattr(theirs, f.name), f"[{index}].{f.name}")
    # buffer_floor reads the cross pool's sums from the metrics instead of _pool_state
    for mine, theirs, name in zip(
        (actual.cross_equity, actual.cross_maintenance_margin, actual.cross_initial_margin),
        _pool_state(pool),
        ("equity", "maintenance", "initial margin"),
        strict=True,
    ):
        assert_same(mine, theirs, f"pool state {name}")
    for index, position in enumerate(pool.positions):
        assert_same(
            liquidation_price(position, pool, rules),
            reference_liquidation_price(position, pool, rules),
            f"liquidation_price[{index}]",
        )


def test_measure_when_own_pnl_has_the_finest_exponent_then_same_digits_as_reference():
    """The others' sum keeps the exponent it had as a left-to-right sum (here 0, not −6), so an
    exact division downstream gives the same digits: a liquidation price of 100, not 100.0000."""
    flat = spec(tiers=TIER_TABLES[1])
    fine = Position("BTC/USDT:USDT", Side.LONG, D(1), D(1094), D("1093.999999"), leverage=D(10))
    other = Position("ETH/USDT:USDT", Side.LONG, D(1), D(100), D(100), leverage=D(10))
    markets = {"BTC/USDT:USDT": flat, "ETH/USDT:USDT": spec("ETH/USDT:USDT", tiers=TIER_TABLES[1])}
    pool = snapshot([fine, other], wallet="1000", markets=markets)
    actual, expected = measure(pool, paper.RULES), reference_measure(pool, paper.RULES)
    assert str(expected.positions[0].liquidation_price) == "100"
    for f in fields(PositionMetrics):
        assert_same(
            getattr(actual.positions[0], f.name), getattr(expected.positions[0], f.name), f.name
        )
