"""The per-venue parser contract: how a venue reads positions, tiers, funding and the balance."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from guard.core.domain import ZERO, Balance, MarginMode, MarginTier, Position
from guard.gateway.parsers.common import (
    Context,
    derived_rate_tiers,
    funding_interval,
    leverage_tier_rows,
    settle_currency,
)


@dataclass(frozen=True, slots=True)
class ParsedPosition:
    """A domain position plus the raw pieces later steps (tiers, balance) need."""

    position: Position
    path: str
    info: Mapping[str, Any] = field(default_factory=dict)
    venue_maintenance: Decimal | None = None


PositionReader = Callable[[Context, int, Mapping[str, Any]], ParsedPosition | None]
TierReader = Callable[[Context, ParsedPosition], tuple[MarginTier, ...]]
BalanceReader = Callable[[Context, Mapping[str, Any] | None, Sequence[Position]], Balance]
FundingReader = Callable[[Context, str], tuple[Decimal | None, Decimal | None]]
IntervalReader = Callable[[Context, str], timedelta | None]


def no_funding_fallback(ctx: Context, symbol: str) -> tuple[Decimal | None, Decimal | None]:
    """No venue-specific source of funding rate / oracle price beyond the funding-rate dicts."""
    return None, None


@dataclass(frozen=True, slots=True)
class VenueParser:
    """The functions one venue supplies to parse_snapshot."""

    position: PositionReader
    tiers: TierReader
    balance: BalanceReader
    funding: FundingReader = no_funding_fallback
    interval: IntervalReader = funding_interval


def cross_pnl(positions: Sequence[Position]) -> Decimal:
    """Unrealized PnL of the cross positions (domain arithmetic at each position's mark)."""
    return sum((p.unrealized_pnl for p in positions if p.margin_mode is MarginMode.CROSS), ZERO)


def isolated_margins(positions: Sequence[Position]) -> Decimal:
    return sum(
        (p.isolated_margin or ZERO for p in positions if p.margin_mode is MarginMode.ISOLATED),
        ZERO,
    )


def isolated_equities(positions: Sequence[Position]) -> Decimal:
    return sum(
        (
            (p.isolated_margin or ZERO) + p.unrealized_pnl
            for p in positions
            if p.margin_mode is MarginMode.ISOLATED
        ),
        ZERO,
    )


def ccxt_total(ctx: Context, balance: Mapping[str, Any], currency: str) -> Decimal | None:
    """ccxt's unified `balance[currency].total` (or `balance.total[currency]`), None if absent."""
    own = balance.get(currency)
    if isinstance(own, Mapping) and own.get("total") is not None:
        return ctx.number(own.get("total"), f"balance.{currency}.total")
    totals = balance.get("total")
    if isinstance(totals, Mapping) and totals.get(currency) is not None:
        return ctx.number(totals.get(currency), f"balance.total.{currency}")
    return None


def ccxt_free(ctx: Context, balance: Mapping[str, Any], currency: str) -> Decimal | None:
    own = balance.get(currency)
    if isinstance(own, Mapping) and own.get("free") is not None:
        return ctx.number(own.get("free"), f"balance.{currency}.free")
    return None


def settle_of(positions: Sequence[Position], ctx: Context, default: str) -> str:
    """The settlement currency: the positions' (they must agree), else the markets', else default."""
    symbols = [p.symbol for p in positions] or list(ctx.markets)
    found = {settle_currency(symbol, default) for symbol in symbols}
    if len(found) > 1:
        raise ctx.error("positions", "positions settled in a single currency", sorted(found))
    return found.pop() if found else default


def mode_of(ctx: Context, value: Any, path: str) -> MarginMode | None:
    """'cross'/'isolated' (any case) as MarginMode, None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.lower() in ("cross", "crossed"):
        return MarginMode.CROSS
    if isinstance(value, str) and value.lower() == "isolated":
        return MarginMode.ISOLATED
    raise ctx.error(path, "'cross' or 'isolated'", value)


def table_or_derived_tiers(
    ctx: Context,
    parsed: ParsedPosition,
    build: Callable[[list[Mapping[str, Any]]], tuple[MarginTier, ...]],
    rows_name: str,
    maintenance_field: str,
) -> tuple[MarginTier, ...]:
    """Tiers from `leverage_tiers[symbol]` through `build` (a bad table names the symbol and
    what rows were expected); without a table, one tier derived from the venue-reported
    maintenance at `info.<maintenance_field>`."""
    symbol = parsed.position.symbol
    infos = leverage_tier_rows(ctx, symbol)
    if infos is None:
        return derived_rate_tiers(
            ctx,
            parsed.position,
            parsed.venue_maintenance,
            f"{parsed.path}.info.{maintenance_field}",
        )
    try:
        return build(infos)
    except ValueError as error:
        raise ctx.error(f"leverage_tiers[{symbol!r}]", rows_name, str(error)) from None
