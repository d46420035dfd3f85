"""Built-in synthetic market scenarios for the paper venue, deterministic by seed (no files, no network)."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from guard.domain import MarginMode, MarketSpec, Side
from guard.gateway.paper import PaperVenue, PricePath
from guard.venues.paper import DEFAULT_TIERS

START = datetime(2024, 8, 5, 0, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class SeedPosition:
    """A starting position of a scenario account."""

    symbol: str
    side: Side
    quantity: Decimal
    entry_price: Decimal
    leverage: Decimal
    margin_mode: MarginMode = MarginMode.CROSS


@dataclass(frozen=True, slots=True)
class Scenario:
    """A price path, funding schedule, markets and a starting portfolio."""

    name: str
    description: str
    markets: Mapping[str, MarketSpec]
    path: PricePath
    funding: Mapping[str, tuple[tuple[datetime, Decimal], ...]]
    collateral: Decimal
    positions: tuple[SeedPosition, ...]
    tick: timedelta = timedelta(minutes=1)

    @property
    def start(self) -> datetime:
        return self.path.start

    @property
    def end(self) -> datetime:
        return self.path.end

    def venue(self, accounts: tuple[str, ...] = ("demo",)) -> PaperVenue:
        """A fresh paper venue holding the scenario's portfolio in each named account."""
        venue = PaperVenue(self.markets, self.path, self.funding, start=self.start)
        for account in accounts:
            venue.open_account(account, self.collateral)
            for seed in self.positions:
                venue.seed_position(
                    account,
                    seed.symbol,
                    seed.side,
                    seed.quantity,
                    seed.entry_price,
                    seed.leverage,
                    seed.margin_mode,
                )
        return venue


def market(symbol: str, base: str, step: str, tick: str) -> MarketSpec:
    return MarketSpec(
        symbol=symbol,
        base=base,
        quote="USDT",
        amount_step=Decimal(step),
        price_tick=Decimal(tick),
        min_amount=Decimal(step),
        min_notional=Decimal(5),
        reduce_only_exempt_from_min_notional=True,
        tiers=DEFAULT_TIERS,
        funding_interval=timedelta(hours=1),
        taker_fee_rate=Decimal("0.0005"),
    )


MARKETS = {
    "BTC/USDT:USDT": market("BTC/USDT:USDT", "BTC", "0.001", "0.1"),
    "ETH/USDT:USDT": market("ETH/USDT:USDT", "ETH", "0.01", "0.01"),
    "SOL/USDT:USDT": market("SOL/USDT:USDT", "SOL", "0.1", "0.001"),
}
START_PRICES = {
    "BTC/USDT:USDT": Decimal(60000),
    "ETH/USDT:USDT": Decimal(3000),
    "SOL/USDT:USDT": Decimal(150),
}
BETAS = {"BTC/USDT:USDT": 1.0, "ETH/USDT:USDT": 1.25, "SOL/USDT:USDT": 1.6}


def correlated_path(
    seed: int,
    minutes: int,
    drift: Callable[[int], float],
    noise: float = 0.0015,
    start: datetime = START,
) -> PricePath:
    """One-minute knots: a common factor (drift per minute + noise) scaled by each symbol's beta,
    plus idiosyncratic noise. Prices are quantised to each market's tick."""
    rng = random.Random(seed)
    levels = {symbol: float(price) for symbol, price in START_PRICES.items()}
    knots: dict[str, list[tuple[datetime, Decimal]]] = {s: [] for s in START_PRICES}
    for minute in range(minutes + 1):
        moment = start + timedelta(minutes=minute)
        common = drift(minute) + rng.gauss(0, noise) if minute else 0.0
        for symbol in sorted(START_PRICES):
            own = rng.gauss(0, noise / 2) if minute else 0.0
            levels[symbol] *= max(1 + BETAS[symbol] * common + own, 0.5)
            tick = MARKETS[symbol].price_tick
            price = (Decimal(repr(levels[symbol])) / tick).to_integral_value() * tick
            knots[symbol].append((moment, price))
    return PricePath({s: tuple(v) for s, v in knots.items()})


def _crash_drift(minute: int) -> float:
    if minute < 45:
        return 0.0
    if minute < 135:  # a 90-minute cascade, about -20 % on BTC, deeper on higher beta
        return -0.0025
    if minute < 150:
        return 0.0
    return 0.0006  # a partial relief rally


def hourly_funding(
    rate: str, hours: int, start: datetime = START
) -> tuple[tuple[datetime, Decimal], ...]:
    return tuple((start + timedelta(hours=h), Decimal(rate)) for h in range(1, hours + 1))


def crash(seed: int = 7) -> Scenario:
    """A correlated crash: calm for 45 min, a 90-minute cascade, a partial rebound (4 h)."""
    minutes = 240
    return Scenario(
        name="crash",
        description=(
            "Correlated crash: BTC falls about 20 % in 90 minutes, ETH and SOL harder "
            "(beta 1.25 and 1.6), then a partial rebound. Cross BTC and ETH longs, isolated SOL long."
        ),
        markets=MARKETS,
        path=correlated_path(seed, minutes, _crash_drift),
        funding={s: hourly_funding("0.0001", 4) for s in MARKETS},
        collateral=Decimal(20000),
        positions=(
            SeedPosition("BTC/USDT:USDT", Side.LONG, Decimal("1.2"), Decimal(60000), Decimal(10)),
            SeedPosition("ETH/USDT:USDT", Side.LONG, Decimal(18), Decimal(3000), Decimal(8)),
            SeedPosition(
                "SOL/USDT:USDT",
                Side.LONG,
                Decimal(100),
                Decimal(150),
                Decimal(5),
                MarginMode.ISOLATED,
            ),
        ),
    )


BUILT_IN: dict[str, Callable[[int], Scenario]] = {"crash": crash}


def scenario(name: str, seed: int = 7) -> Scenario:
    try:
        return BUILT_IN[name](seed)
    except KeyError:
        known = ", ".join(sorted(BUILT_IN))
        raise KeyError(f"unknown scenario {name!r}; built-in scenarios: {known}") from None
