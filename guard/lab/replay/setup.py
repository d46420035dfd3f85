"""What one replay runs on: markets, an indexed price path, funding, the starting portfolio and
the venue rules to emulate; built from CSV candles + a portfolio file or from a scenario."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from guard.core.domain import MarketSpec
from guard.core.venues import paper as paper_venue
from guard.core.venues.base import VenueRules
from guard.gateway.paper.data import Candle, FundingSeries
from guard.gateway.paper.impact import NO_LATENCY, REPLAY_EXECUTION, ExecutionModel
from guard.gateway.paper.path import IndexedPricePath, candles_path
from guard.gateway.paper.scenarios import Scenario, SeedPosition
from guard.gateway.paper.venue import PaperVenue
from guard.lab.replay.portfolio import Portfolio


@dataclass(frozen=True, slots=True)
class ReplaySetup:
    """Everything a run needs; every run builds its own fresh paper venue from it."""

    name: str
    markets: Mapping[str, MarketSpec]
    path: IndexedPricePath
    funding: Mapping[str, FundingSeries]
    collateral: Decimal
    positions: tuple[SeedPosition, ...]
    rules: VenueRules = paper_venue.RULES
    bars: int = 0  # candles (or synthetic knots) per symbol
    # how orders fill (latency, impact memory, volatility); history and scenarios use the
    # replay's honest default, a bare setup fills at once at the mark (the old behaviour)
    execution: ExecutionModel = NO_LATENCY
    # what the price path is: "mark" (mark-price candles, or a scenario's path), or
    # "last-trade" (last-trade candles standing in for the mark: the documented proxy)
    price: str = "mark"

    @property
    def start(self) -> datetime:
        return self.path.start

    @property
    def end(self) -> datetime:
        return self.path.end

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(sorted(self.path.knots))

    def venue(self, account: str) -> PaperVenue:
        venue = PaperVenue(
            self.markets, self.path, self.funding, start=self.start, execution=self.execution
        )
        venue.rules = self.rules
        venue.candles_are_mark = self.price == "mark"
        venue.open_account(account, self.collateral)
        for seed in self.positions:
            seed.place(venue, account)
        return venue

    def tick_times(self, every: timedelta) -> list[datetime]:
        if every <= timedelta(0):
            raise ValueError(f"the tick must be positive, got {every}")
        times: list[datetime] = []
        moment = self.start
        while moment <= self.end:
            times.append(moment)
            moment += every
        return times


def from_candles(
    name: str,
    portfolio: Portfolio,
    candles: Mapping[str, tuple[Candle, ...]],
    funding: Mapping[str, FundingSeries],
    rules: VenueRules,
    price: str = "last-trade",
) -> ReplaySetup:
    """A setup from candle and funding series per symbol; every position needs candles.
    `price` says what the candles are: "mark" or "last-trade" (the mark's proxy)."""
    missing = [s for s in portfolio.symbols if s not in candles]
    if missing:
        raise ValueError(
            f"the portfolio holds {', '.join(missing)} but no --candles file is for it "
            f"(candles given for: {', '.join(sorted(candles)) or 'none'})"
        )
    stray = sorted(set(funding) - set(candles))
    if stray:
        raise ValueError(f"funding given for {', '.join(stray)} but no candles for it")
    path = candles_path(candles, {s: portfolio.net_side(s) for s in candles})
    seeds = tuple(
        SeedPosition(
            p.symbol,
            p.side,
            p.quantity,
            p.entry_price,
            p.leverage,
            p.margin_mode,
            p.margin,
        )
        for p in portfolio.positions
    )
    return ReplaySetup(
        name=name,
        markets=portfolio.market_specs(tuple(sorted(candles))),
        path=path,
        funding=dict(funding),
        collateral=portfolio.collateral,
        positions=seeds,
        rules=rules,
        bars=max(len(series) for series in candles.values()),
        execution=REPLAY_EXECUTION,
        price=price,
    )


def from_scenario(scenario: Scenario) -> ReplaySetup:
    return ReplaySetup(
        name=scenario.name,
        markets=scenario.markets,
        path=IndexedPricePath.of(scenario.path),
        funding=scenario.funding,
        collateral=scenario.collateral,
        positions=scenario.positions,
        bars=max(len(series) for series in scenario.path.knots.values()),
        execution=REPLAY_EXECUTION,
    )
