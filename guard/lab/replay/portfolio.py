"""The replay portfolio file (YAML): the venue whose margin rules to emulate, the collateral and
the starting positions; validated strictly, errors name file:line: field."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from guard.core.domain import ZERO, MarginMode, MarketSpec, Side
from guard.core.policy.units import Leverage, Money, Percent
from guard.core.venues import paper as paper_venue
from guard.core.venues import registry
from guard.core.venues.base import VenueRules
from guard.gateway.paper.data import unified_symbol
from guard.service.files import validate_file

Positive = Annotated[Money, Field(gt=0)]


class MarketOverride(BaseModel):
    """Trading rules of one market in the replay (defaults: the paper venue's)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    amount_step: Positive = Decimal("0.001")
    price_tick: Positive = Decimal("0.01")
    min_notional: Money = Decimal(5)
    taker_fee: Percent = Decimal("0.0005")


class PositionEntry(BaseModel):
    """One starting position."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    symbol: str
    side: Side
    quantity: Positive
    entry_price: Positive
    leverage: Annotated[Leverage, Field(gt=0)]
    margin_mode: MarginMode = MarginMode.CROSS
    margin: Positive | None = None  # isolated only; default notional ÷ leverage

    @field_validator("symbol")
    @classmethod
    def _symbol(cls, raw: str) -> str:
        return unified_symbol(raw)

    @model_validator(mode="after")
    def _margin_only_isolated(self) -> PositionEntry:
        if self.margin is not None and self.margin_mode is not MarginMode.ISOLATED:
            raise ValueError("`margin` applies to isolated positions only (margin_mode: isolated)")
        return self

    @property
    def posted_margin(self) -> Decimal:
        if self.margin_mode is not MarginMode.ISOLATED:
            return ZERO
        return (
            self.margin
            if self.margin is not None
            else self.quantity * self.entry_price / self.leverage
        )


class Portfolio(BaseModel):
    """The starting account of a replay."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    venue: str = "paper"
    collateral: Positive
    positions: tuple[PositionEntry, ...] = Field(min_length=1)
    markets: dict[str, MarketOverride] = Field(default_factory=dict)

    @field_validator("markets")
    @classmethod
    def _market_symbols(cls, raw: dict[str, MarketOverride]) -> dict[str, MarketOverride]:
        return {unified_symbol(symbol): spec for symbol, spec in raw.items()}

    @model_validator(mode="after")
    def _consistent(self) -> Portfolio:
        seen: set[tuple[str, Side]] = set()
        for entry in self.positions:
            key = (entry.symbol, entry.side)
            if key in seen:
                raise ValueError(f"two positions for {entry.symbol} {entry.side.value}")
            seen.add(key)
        posted = sum((p.posted_margin for p in self.positions), ZERO)
        if posted >= self.collateral:
            raise ValueError(
                f"isolated margins ({posted}) use up the whole collateral ({self.collateral})"
            )
        return self

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(sorted({p.symbol for p in self.positions}))

    def net_side(self, symbol: str) -> Side | None:
        net = sum(
            (
                p.side.sign * p.quantity * p.entry_price
                for p in self.positions
                if p.symbol == symbol
            ),
            ZERO,
        )
        if net > 0:
            return Side.LONG
        if net < 0:
            return Side.SHORT
        return None

    def market_specs(self, symbols: tuple[str, ...]) -> dict[str, MarketSpec]:
        return {s: market_spec(s, self.markets.get(s, MarketOverride())) for s in symbols}


def market_spec(symbol: str, override: MarketOverride) -> MarketSpec:
    base, rest = symbol.split("/", 1)
    quote = rest.split(":", 1)[0]
    return MarketSpec(
        symbol=symbol,
        base=base,
        quote=quote,
        amount_step=override.amount_step,
        price_tick=override.price_tick,
        min_amount=override.amount_step,
        min_notional=override.min_notional,
        reduce_only_exempt_from_min_notional=True,
        tiers=paper_venue.DEFAULT_TIERS,
        taker_fee_rate=override.taker_fee,
    )


def load_portfolio(path: Path) -> Portfolio:
    return validate_file(path, Portfolio)


def rules_for(venue: str) -> VenueRules:
    """The margin rules of `venue` from the venue registry (ValueError naming the known venues)."""
    return registry.rules_for(venue)
