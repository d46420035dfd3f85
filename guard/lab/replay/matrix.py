"""The acceptance matrix of a policy: every real episode in the shared market data and every
scenario, as cross longs at 5x/10x/20x and a 10x short opened at the low, each replayed unguarded,
guarded and with a plain stop at half the starting liquidation distance; deterministic (seeded)."""

from __future__ import annotations

import asyncio
import math
import random
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from guard.core.domain import MarginMode, MarketSpec, Side
from guard.core.policy.schema import PolicySet
from guard.gateway.paper.data import load_candles, load_funding
from guard.gateway.paper.impact import REPLAY_EXECUTION
from guard.gateway.paper.path import IndexedPricePath, Knots, bar_knots
from guard.gateway.paper.scenarios import MARKETS, SeedPosition, catalogue, scenario
from guard.lab.demo import fresh_store
from guard.lab.replay.baselines import StopBaseline, StopKind
from guard.lab.replay.runner import RunResult, run_guarded, run_stop_loss, run_unguarded
from guard.lab.replay.setup import ReplaySetup

BTC = "BTC/USDT:USDT"
COLLATERAL = Decimal(10000)
HALF_LIQ = StopBaseline("stop_half_liq", StopKind.LIQUIDATION_FRACTION, Decimal("0.5"))
CALM_VOLATILITY = 0.0003  # 0.03 % per minute
CALM_START = datetime(2024, 9, 2, tzinfo=UTC)
SCENARIO_TICK = timedelta(seconds=15)  # the service's default poll interval
LONG_SCENARIO = timedelta(hours=6)  # longer (slow) scenarios tick once a minute
LONG_SCENARIO_TICK = timedelta(minutes=1)

# the real episodes in ../shared/data/market: candles, funding, guard tick
REAL_EPISODES = (
    (
        "2020-03-13 BTC 1m",
        "binance_usdm_BTCUSDT_1m_2020-03-13_0402-0540UTC.csv",
        "binance_usdm_BTCUSDT_funding_2020-03-05_2020-03-19.csv",
        timedelta(seconds=15),
    ),
    (
        "2024-08 BTC 5m",
        "binance_spot_BTCUSDT_5m_2024-08-01_2024-08-10.csv",
        "binance_usdm_BTCUSDT_funding_2024-07-29_2024-08-12.csv",
        timedelta(minutes=5),
    ),
)


@dataclass(frozen=True, slots=True)
class Position:
    """One matrix column: a cross position of `leverage` × collateral notional."""

    side: Side
    leverage: int

    @property
    def label(self) -> str:
        return f"{self.side.value} {self.leverage}x"


POSITIONS = (
    Position(Side.LONG, 5),
    Position(Side.LONG, 10),
    Position(Side.LONG, 20),
    Position(Side.SHORT, 10),
)


@dataclass(frozen=True, slots=True)
class Episode:
    """A price path for one symbol; `knots(side)` visits each bar's adverse extreme first."""

    name: str
    symbol: str
    market: MarketSpec
    knots: Callable[[Side], Knots]
    funding: tuple[tuple[datetime, Decimal], ...]
    tick: timedelta
    source: str  # "real", "scenario" or "calm"


@dataclass(frozen=True, slots=True)
class Cell:
    """The three runs of one episode and position."""

    episode: Episode
    position: Position
    unguarded: RunResult
    guarded: RunResult
    stop: RunResult

    @property
    def ratio(self) -> Decimal:
        """Guarded final equity ÷ the half-liquidation stop's (1 when both are zero)."""
        if self.stop.final_equity <= 0:
            return Decimal(1) if self.guarded.final_equity >= 0 else Decimal(0)
        return self.guarded.final_equity / self.stop.final_equity


def real_episodes(market_dir: Path) -> list[Episode]:
    """The shared crash episodes (skipped when the folder is absent)."""
    found: list[Episode] = []
    for name, candle_file, funding_file, tick in REAL_EPISODES:
        candles_path, funding_path = market_dir / candle_file, market_dir / funding_file
        if not candles_path.is_file():
            continue
        candles = load_candles(candles_path)
        funding = load_funding(funding_path) if funding_path.is_file() else ()

        def knots(side: Side, candles: tuple = candles) -> Knots:  # type: ignore[type-arg]
            return bar_knots(candles, adverse_low_first=side is Side.LONG)

        found.append(Episode(name, BTC, MARKETS[BTC], knots, tuple(funding), tick, "real"))
    return found


def scenario_episodes(seed: int = 7) -> list[Episode]:
    """Every scenario (built-in and file), on the symbol of its first position."""
    found: list[Episode] = []
    for name, _, _ in catalogue():
        chosen = scenario(name, seed)
        symbol = chosen.positions[0].symbol
        found.append(
            Episode(
                f"scenario {name}",
                symbol,
                chosen.markets[symbol],
                _fixed(tuple(chosen.path.knots[symbol])),
                tuple(chosen.funding.get(symbol, ())),
                SCENARIO_TICK if chosen.end - chosen.start <= LONG_SCENARIO else LONG_SCENARIO_TICK,
                "scenario",
            )
        )
    return found


def _fixed(series: Knots) -> Callable[[Side], Knots]:
    """Knots that do not depend on the position's side (synthetic paths)."""

    def knots(_side: Side) -> Knots:
        return series

    return knots


def calm_day(seed: int = 11, sigma: float = CALM_VOLATILITY) -> Episode:
    """24 h of one-minute knots, a driftless random walk at `sigma` per minute."""
    rng = random.Random(seed)
    tick_size = MARKETS[BTC].price_tick
    price = 60000.0
    knots: list[tuple[datetime, Decimal]] = []
    for minute in range(24 * 60 + 1):
        knots.append(
            (CALM_START + timedelta(minutes=minute), Decimal(str(price)).quantize(tick_size))
        )
        price *= math.exp(rng.gauss(0.0, sigma))
    series = tuple(knots)
    return Episode(
        f"calm day {sigma * 100:g}%/min",
        BTC,
        MARKETS[BTC],
        _fixed(series),
        (),
        timedelta(minutes=1),
        "calm",
    )


def setup_for(episode: Episode, position: Position) -> ReplaySetup:
    """Longs enter at the episode's first price; shorts at its lowest price, from that moment."""
    knots = episode.knots(position.side)
    if position.side is Side.SHORT:
        low = min(range(len(knots)), key=lambda i: knots[i][1])
        knots = knots[low:] if low < len(knots) - 1 else knots[-2:]
    start, entry = knots[0]
    quantity = (COLLATERAL * position.leverage / entry).quantize(episode.market.amount_step)
    funding = tuple((t, r) for t, r in episode.funding if t > start)
    return ReplaySetup(
        name=f"{episode.name} {position.label}",
        markets={episode.symbol: episode.market},
        path=IndexedPricePath({episode.symbol: knots}),
        funding={episode.symbol: funding} if funding else {},
        collateral=COLLATERAL,
        positions=(
            SeedPosition(
                episode.symbol,
                position.side,
                quantity,
                entry,
                Decimal(position.leverage),
                MarginMode.CROSS,
            ),
        ),
        bars=len(knots),
        execution=REPLAY_EXECUTION,
        price="last-trade" if episode.source == "real" else "mark",  # shared files: last trade
    )


async def run_cell(episode: Episode, position: Position, policies: PolicySet) -> Cell:
    setup = setup_for(episode, position)
    unguarded = run_unguarded(setup)
    with tempfile.TemporaryDirectory(prefix="guard-matrix-") as folder:
        store = fresh_store(Path(folder) / "audit.db")
        try:
            guarded = await run_guarded(setup, policies, store, episode.tick)
        finally:
            store.dispose()
    stop = await run_stop_loss(setup, HALF_LIQ, HALF_LIQ.name)
    return Cell(episode, position, unguarded, guarded, stop)


def run_matrix(
    episodes: Sequence[Episode],
    policies: PolicySet,
    positions: Sequence[Position] = POSITIONS,
    progress: Callable[[Cell], None] | None = None,
) -> list[Cell]:
    cells: list[Cell] = []
    for episode in episodes:
        for position in positions:
            cell = asyncio.run(run_cell(episode, position, policies))
            cells.append(cell)
            if progress is not None:
                progress(cell)
    return cells
