"""Synthetic market scenarios for the paper venue, deterministic by seed: the built-in crash and
scenario files (YAML in the top-level scenarios/ folder); no network."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from guard.core.domain import MarginMode, MarketSpec, Side
from guard.core.policy.units import Duration, Leverage, Money, Percent, to_decimal
from guard.core.venues.paper import DEFAULT_TIERS
from guard.core.yaml_model import ConfigError, decode_text, validate_yaml
from guard.gateway.paper.data import unified_symbol
from guard.gateway.paper.path import PricePath
from guard.gateway.paper.venue import PaperVenue

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
    margin: Decimal | None = None  # isolated only; default notional ÷ leverage

    def place(self, venue: PaperVenue, account: str) -> None:
        """Seed this position on `account` of `venue` (set-up only)."""
        venue.seed_position(
            account,
            self.symbol,
            self.side,
            self.quantity,
            self.entry_price,
            self.leverage,
            self.margin_mode,
            self.margin,
        )


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
                seed.place(venue, account)
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
    starts: Mapping[str, Decimal] | None = None,
    betas: Mapping[str, float] | None = None,
    markets: Mapping[str, MarketSpec] | None = None,
) -> PricePath:
    """One-minute knots: a common factor (drift per minute + noise) scaled by each symbol's beta,
    plus idiosyncratic noise. Prices are quantised to each market's tick. Without `starts`,
    `betas` and `markets` the built-in BTC, ETH and SOL markets are used."""
    starts = START_PRICES if starts is None else starts
    betas = BETAS if betas is None else betas
    markets = MARKETS if markets is None else markets
    rng = random.Random(seed)
    levels = {symbol: float(price) for symbol, price in starts.items()}
    knots: dict[str, list[tuple[datetime, Decimal]]] = {s: [] for s in starts}
    for minute in range(minutes + 1):
        moment = start + timedelta(minutes=minute)
        common = drift(minute) + rng.gauss(0, noise) if minute else 0.0
        for symbol in sorted(starts):
            own = rng.gauss(0, noise / 2) if minute else 0.0
            levels[symbol] *= max(1 + betas[symbol] * common + own, 0.5)
            tick = markets[symbol].price_tick
            price = (Decimal(repr(levels[symbol])) / tick).to_integral_value() * tick
            knots[symbol].append((moment, max(price, tick)))
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

# ----- scenario files (YAML, in the top-level scenarios/ folder) ------------------------------

SCENARIO_DIR = Path(__file__).resolve().parents[3] / "scenarios"


def _signed_fraction(raw: Any) -> Decimal:
    """'-3%' -> -0.03; a bare number is a fraction (-0.03)."""
    if isinstance(raw, str) and raw.strip().endswith("%"):
        return to_decimal(raw.strip()[:-1], "percentage") / 100
    return to_decimal(raw, "fraction")


SignedPercent = Annotated[Decimal, BeforeValidator(_signed_fraction)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SymbolSpec(_Strict):
    """One market of a scenario: its starting price and its beta to the common factor."""

    start: Annotated[Money, Field(gt=0)]
    beta: float = 1.0
    amount_step: Annotated[Money, Field(gt=0)] | None = None
    price_tick: Annotated[Money, Field(gt=0)] | None = None


class DriftSegment(_Strict):
    """`minutes` minutes during which the common factor moves `per_minute` on average."""

    minutes: Annotated[int, Field(gt=0)]
    per_minute: SignedPercent

    @field_validator("per_minute")
    @classmethod
    def _bounded(cls, value: Decimal) -> Decimal:
        if not Decimal("-0.2") <= value <= Decimal("0.2"):
            raise ValueError("a per-minute move must be within -20% and 20%")
        return value


class FundingSegment(_Strict):
    """`hours` hourly settlements at `rate` (per hour, positive: longs pay shorts)."""

    hours: Annotated[int, Field(gt=0)]
    rate: SignedPercent


class ScenarioPosition(_Strict):
    symbol: str
    side: Side
    quantity: Annotated[Money, Field(gt=0)]
    entry_price: Annotated[Money, Field(gt=0)] | None = None  # default: the symbol's start
    leverage: Annotated[Leverage, Field(gt=0)]
    margin_mode: MarginMode = MarginMode.CROSS
    margin: Annotated[Money, Field(gt=0)] | None = None

    @field_validator("symbol")
    @classmethod
    def _unified(cls, raw: str) -> str:
        return unified_symbol(raw)


class ScenarioFile(_Strict):
    """A synthetic scenario: drift segments of a common factor, per-symbol betas, noise,
    hourly funding segments, and a starting portfolio; deterministic by seed."""

    name: str
    description: str
    tick: Duration = timedelta(minutes=1)
    noise: Annotated[Percent, Field(ge=0, le=Decimal("0.05"))] = Decimal("0.0015")
    symbols: dict[str, SymbolSpec] = Field(min_length=1)
    drift: tuple[DriftSegment, ...] = Field(min_length=1)
    funding: tuple[FundingSegment, ...] = ()
    collateral: Annotated[Money, Field(gt=0)]
    positions: tuple[ScenarioPosition, ...] = Field(min_length=1)

    @field_validator("symbols")
    @classmethod
    def _unified(cls, raw: dict[str, SymbolSpec]) -> dict[str, SymbolSpec]:
        return {unified_symbol(symbol): spec for symbol, spec in raw.items()}

    @model_validator(mode="after")
    def _positions_known(self) -> ScenarioFile:
        for index, position in enumerate(self.positions):
            if position.symbol not in self.symbols:
                raise ValueError(
                    f"positions[{index}]: {position.symbol} is not among the symbols "
                    f"({', '.join(self.symbols)})"
                )
        return self

    @property
    def minutes(self) -> int:
        return sum(segment.minutes for segment in self.drift)

    def markets(self) -> dict[str, MarketSpec]:
        specs: dict[str, MarketSpec] = {}
        for symbol, spec in self.symbols.items():
            known = MARKETS.get(symbol)
            base = symbol.split("/", 1)[0]
            step = spec.amount_step or (known.amount_step if known else Decimal("0.001"))
            tick = spec.price_tick or (known.price_tick if known else Decimal("0.01"))
            specs[symbol] = market(symbol, base, str(step), str(tick))
        return specs

    def per_minute_drift(self) -> Callable[[int], float]:
        bounds: list[tuple[int, float]] = []
        end = 0
        for segment in self.drift:
            end += segment.minutes
            bounds.append((end, float(segment.per_minute)))

        def drift(minute: int) -> float:
            for until, move in bounds:
                if minute <= until:
                    return move
            return bounds[-1][1]

        return drift

    def funding_schedule(self) -> tuple[tuple[datetime, Decimal], ...]:
        settlements: list[tuple[datetime, Decimal]] = []
        hour = 0
        for segment in self.funding:
            for _ in range(segment.hours):
                hour += 1
                settlements.append((START + timedelta(hours=hour), segment.rate))
        return tuple(settlements)

    def build(self, seed: int) -> Scenario:
        markets = self.markets()
        path = correlated_path(
            seed,
            self.minutes,
            self.per_minute_drift(),
            noise=float(self.noise),
            starts={s: spec.start for s, spec in self.symbols.items()},
            betas={s: spec.beta for s, spec in self.symbols.items()},
            markets=markets,
        )
        schedule = self.funding_schedule()
        return Scenario(
            name=self.name,
            description=self.description,
            markets=markets,
            path=path,
            funding={s: schedule for s in markets} if schedule else {},
            collateral=self.collateral,
            positions=tuple(
                SeedPosition(
                    p.symbol,
                    p.side,
                    p.quantity,
                    p.entry_price or self.symbols[p.symbol].start,
                    p.leverage,
                    p.margin_mode,
                    p.margin,
                )
                for p in self.positions
            ),
            tick=self.tick,
        )


def scenario_files(folder: Path = SCENARIO_DIR) -> dict[str, Path]:
    """Scenario files by name (file stem) in `folder`."""
    if not folder.is_dir():
        return {}
    return {path.stem: path for path in sorted(folder.glob("*.yaml"))}


def load_scenario_file(path: Path) -> ScenarioFile:
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ConfigError.unreadable(str(path), error) from error
    return validate_yaml(decode_text(raw, str(path)), str(path), ScenarioFile)


def catalogue(folder: Path = SCENARIO_DIR) -> list[tuple[str, str, str]]:
    """(name, description, source) of every scenario: built-in ones, then files."""
    entries = [
        (name, " ".join((build(7).description or "").split()), "built-in")
        for name, build in sorted(BUILT_IN.items())
    ]
    for name, path in scenario_files(folder).items():
        entries.append((name, " ".join(load_scenario_file(path).description.split()), str(path)))
    return entries


def scenario(name: str, seed: int = 7, folder: Path = SCENARIO_DIR) -> Scenario:
    """A scenario by built-in name, by file name in `folder`, or by the path of a YAML file."""
    if name in BUILT_IN:
        return BUILT_IN[name](seed)
    files = scenario_files(folder)
    if name in files:
        return load_scenario_file(files[name]).build(seed)
    candidate = Path(name)
    if candidate.suffix in (".yaml", ".yml") and candidate.is_file():
        return load_scenario_file(candidate).build(seed)
    known = ", ".join([*sorted(BUILT_IN), *files])
    raise KeyError(f"unknown scenario {name!r}; known scenarios: {known} (or give a .yaml path)")
