"""(d) Replay speed: the guarded replay (the real service tick every `tick` of virtual time on
the paper venue, SQLite audit) on the real August 2024 BTC crash, or a built-in scenario when
../shared is not there; bars (candles or price knots) per wall-clock second."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

from guard.gateway.paper.path import IndexedPricePath
from guard.gateway.paper.scenarios import scenario
from guard.lab.demo import fresh_store
from guard.lab.replay.inputs import load_setup
from guard.lab.replay.runner import run_guarded, run_unguarded
from guard.lab.replay.setup import ReplaySetup, from_scenario
from guard.service.files import load_policies

CANDLES = "binance_spot_BTCUSDT_5m_2024-08-01_2024-08-10.csv"
FUNDING = "binance_usdm_BTCUSDT_funding_2024-07-29_2024-08-12.csv"
PORTFOLIO = """\
venue: paper
collateral: 10000
positions:
  - {symbol: BTCUSDT, side: long, quantity: 1.547, entry_price: 64628.01, leverage: 10x}
"""
FALLBACK = "crash"


@dataclass(frozen=True, slots=True)
class ReplayBench:
    source: str  # what was replayed
    real_data: bool  # False: ../shared missing, the built-in scenario instead
    bars: int
    tick_s: float
    guarded_s: float
    unguarded_s: float
    ticks: int
    orders: int

    @property
    def bars_per_s(self) -> float:
        return self.bars / self.guarded_s if self.guarded_s else 0.0

    @property
    def ticks_per_s(self) -> float:
        return self.ticks / self.guarded_s if self.guarded_s else 0.0


def market_folder(root: Path) -> Path:
    """Where the shared market data lives (../shared/data/market next to the project)."""
    return root.parent / "shared" / "data" / "market"


def _setup(folder: Path, root: Path, bars: int | None) -> tuple[ReplaySetup, str, bool]:
    market = market_folder(root)
    candles, funding = market / CANDLES, market / FUNDING
    if candles.is_file() and funding.is_file():
        portfolio = folder / "portfolio.yaml"
        portfolio.write_text(PORTFOLIO, encoding="utf-8")
        setup = load_setup([candles], [funding], [], portfolio)
        source = f"{CANDLES} + {FUNDING}, 10x cross long 1.547 BTC"
        real = True
    else:
        setup = from_scenario(scenario(FALLBACK, 7))
        source = f"built-in scenario `{FALLBACK}` (../shared/data/market not found)"
        real = False
    if bars is not None and 0 < bars < setup.bars:  # a shorter run (--quick): the first bars
        end = setup.start + (setup.end - setup.start) * bars / setup.bars
        knots = {s: tuple(k for k in v if k[0] <= end) for s, v in setup.path.knots.items()}
        setup = replace(setup, path=IndexedPricePath(knots), bars=bars)
    return setup, source, real


def measure_replay(
    folder: Path, root: Path, policy: Path, tick: timedelta, bars: int | None = None
) -> ReplayBench:
    folder.mkdir(parents=True, exist_ok=True)
    setup, source, real = _setup(folder, root, bars)
    policies = load_policies([policy])
    began = time.perf_counter()
    run_unguarded(setup)
    unguarded = time.perf_counter() - began
    store = fresh_store(folder / "replay.db")
    try:
        began = time.perf_counter()
        result = asyncio.run(run_guarded(setup, policies, store, tick))
        guarded = time.perf_counter() - began
    finally:
        store.dispose()
    return ReplayBench(
        source=source,
        real_data=real,
        bars=setup.bars,
        tick_s=tick.total_seconds(),
        guarded_s=guarded,
        unguarded_s=unguarded,
        ticks=len(setup.tick_times(tick)) + 1,
        orders=result.orders,
    )


__all__ = ["ReplayBench", "measure_replay"]
