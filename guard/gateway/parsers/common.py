"""Shared pieces of the ccxt → domain parsers: payload errors with paths, number readers, the
parse context, market specs and market data from ccxt's unified market and funding-rate dicts.

Shell layer (reads plain dicts a gateway fetched); never imports ccxt. Every number becomes an
exact Decimal via str(); a wrong or missing field raises PayloadError naming venue and path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from guard.core.domain import INFINITY, ONE, ZERO, MarginTier, MarketData, MarketSpec, Position
from guard.core.venues.base import VenueRules


class PayloadError(ValueError):
    """A venue payload that cannot be read: names the venue, the path and what was expected."""

    def __init__(self, venue: str, path: str, expected: str, got: Any = None) -> None:
        shown = repr(got)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(f"{venue} payload {path}: expected {expected}, got {shown}")
        self.venue = venue
        self.path = path


@dataclass
class Context:
    """What one parse run reads and the notes it collects (mutable, local to one parse)."""

    venue: str
    rules: VenueRules
    markets: Mapping[str, Any]
    funding_rates: Mapping[str, Any]
    leverage_tiers: Mapping[str, Any]
    account_info: Any
    notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def error(self, path: str, expected: str, got: Any = None) -> PayloadError:
        return PayloadError(self.venue, path, expected, got)

    def number(self, value: Any, path: str, expected: str = "a number") -> Decimal:
        """A required finite number (str, int or float) as an exact Decimal."""
        result = self.optional_number(value, path, expected)
        if result is None:
            raise self.error(path, expected, value)
        return result

    def optional_number(self, value: Any, path: str, expected: str = "a number") -> Decimal | None:
        """None for null/empty, else a finite Decimal; PayloadError for anything else."""
        if value is None or value == "":
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
            raise self.error(path, expected, value)
        try:
            result = Decimal(str(value))
        except ArithmeticError:
            raise self.error(path, expected, value) from None
        if not result.is_finite():
            raise self.error(path, expected, value)
        return result

    def mapping(self, value: Any, path: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.error(path, "an object", value)
        return value

    def sequence(self, value: Any, path: str) -> Sequence[Any]:
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise self.error(path, "a list", value)
        return value

    def text(self, value: Any, path: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.error(path, "a non-empty string", value)
        return value

    def market_raw(self, symbol: str) -> Mapping[str, Any] | None:
        raw = self.markets.get(symbol)
        return self.mapping(raw, f"markets[{symbol!r}]") if raw is not None else None

    def market_info(self, symbol: str) -> Mapping[str, Any]:
        raw = self.market_raw(symbol)
        info = raw.get("info") if raw is not None else None
        return info if isinstance(info, Mapping) else {}

    def contract_size(self, position: Mapping[str, Any], path: str) -> Decimal:
        """A position's contractSize, else its market's (noted), else 1 (noted)."""
        own = self.optional_number(position.get("contractSize"), f"{path}.contractSize")
        if own is not None and own > ZERO:
            return own
        symbol = str(position.get("symbol"))
        market = self.market_raw(symbol)
        if market is not None:
            size = self.optional_number(
                market.get("contractSize"), f"markets[{symbol!r}].contractSize"
            )
            if size is not None and size > ZERO:
                self.note(
                    f"contractSize missing in position {symbol}, used market contractSize {size}"
                )
                return size
        self.note(f"contractSize missing in position and market {symbol}, used 1")
        return ONE


def submap(value: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """value[key] when it is an object, else an empty mapping (for optional nested parts)."""
    found = value.get(key)
    return found if isinstance(found, Mapping) else {}


def settle_currency(symbol: str, default: str) -> str:
    """`BTC/USDT:USDT` → USDT; the default for a symbol without a settle part."""
    return symbol.split(":", 1)[1] if ":" in symbol else default


_INTERVAL = re.compile(r"^(\d+)([mhd])$")


def parse_interval(text: Any) -> timedelta | None:
    """ccxt's funding `interval` ('8h', '1h', '30m') as a timedelta; None when absent/unknown."""
    if not isinstance(text, str):
        return None
    match = _INTERVAL.match(text.strip())
    if match is None:
        return None
    amount = int(match.group(1))
    unit = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}
    return unit[match.group(2)] * amount if amount > 0 else None


def market_spec(
    ctx: Context,
    symbol: str,
    tiers: tuple[MarginTier, ...],
    funding_interval: timedelta | None,
) -> MarketSpec:
    """A MarketSpec from ccxt's unified market (quantities converted to base units)."""
    raw = ctx.market_raw(symbol)
    path = f"markets[{symbol!r}]"
    base = symbol.split("/", 1)[0]
    quote = symbol.split("/", 1)[1].split(":", 1)[0] if "/" in symbol else "USD"
    interval = funding_interval or ctx.rules.funding_interval
    if raw is None:
        ctx.note(f"market {symbol} missing: default amount step, tick and fees used")
        return MarketSpec(
            symbol=symbol, base=base, quote=quote, tiers=tiers, funding_interval=interval
        )
    size = ctx.optional_number(raw.get("contractSize"), f"{path}.contractSize") or ONE
    precision = submap(raw, "precision")
    limits = submap(raw, "limits")
    amount_limits = submap(limits, "amount")
    cost_limits = submap(limits, "cost")
    step = ctx.optional_number(precision.get("amount"), f"{path}.precision.amount")
    tick = ctx.optional_number(precision.get("price"), f"{path}.precision.price")
    min_amount = ctx.optional_number(amount_limits.get("min"), f"{path}.limits.amount.min")
    min_cost = ctx.optional_number(cost_limits.get("min"), f"{path}.limits.cost.min")
    taker = ctx.optional_number(raw.get("taker"), f"{path}.taker")
    max_contracts = _max_order_contracts(ctx, raw, path)
    max_cost = positive_or_none(
        ctx.optional_number(cost_limits.get("max"), f"{path}.limits.cost.max")
    )
    defaults = MarketSpec(symbol=symbol, base=base, quote=quote)
    if step is None:
        ctx.note(f"market {symbol} has no precision.amount: default step {defaults.amount_step}")
    return MarketSpec(
        symbol=symbol,
        base=str(raw.get("base") or base),
        quote=str(raw.get("quote") or quote),
        contract_size=size,
        amount_step=(step * size) if step is not None else defaults.amount_step,
        price_tick=tick if tick is not None else defaults.price_tick,
        min_amount=(min_amount * size) if min_amount is not None else ZERO,
        min_notional=min_cost if min_cost is not None else ZERO,
        max_order_amount=(max_contracts * size) if max_contracts is not None else None,
        max_order_notional=max_cost,
        reduce_only_exempt_from_min_notional=ctx.rules.reduce_only_exempt_from_min_notional,
        tiers=tiers,
        funding_interval=interval,
        taker_fee_rate=taker if taker is not None else defaults.taker_fee_rate,
    )


def _max_order_contracts(ctx: Context, raw: Mapping[str, Any], path: str) -> Decimal | None:
    """The smallest maximum one order may carry, in contracts, from every place a venue states
    it: ccxt's limits.amount.max (Binance LOT_SIZE, OKX maxLmtSz, Bybit maxOrderQty) and
    limits.market.max (Binance MARKET_LOT_SIZE), and the raw market-order maxima ccxt leaves in
    `info` (OKX maxMktSz, Bybit lotSizeFilter.maxMktOrderQty). None when no venue states one."""
    limits = submap(raw, "limits")
    info = submap(raw, "info")
    found = [
        ctx.optional_number(submap(limits, "amount").get("max"), f"{path}.limits.amount.max"),
        ctx.optional_number(submap(limits, "market").get("max"), f"{path}.limits.market.max"),
        ctx.optional_number(info.get("maxMktSz"), f"{path}.info.maxMktSz"),
        ctx.optional_number(
            submap(info, "lotSizeFilter").get("maxMktOrderQty"),
            f"{path}.info.lotSizeFilter.maxMktOrderQty",
        ),
    ]
    stated = [value for value in found if value is not None and value > ZERO]
    return min(stated) if stated else None


def funding_raw(ctx: Context, symbol: str) -> Mapping[str, Any] | None:
    raw = ctx.funding_rates.get(symbol)
    return ctx.mapping(raw, f"funding_rates[{symbol!r}]") if raw is not None else None


def market_data(
    ctx: Context,
    symbol: str,
    mark: Decimal | None,
    fallback_rate: Decimal | None = None,
    fallback_index: Decimal | None = None,
) -> MarketData | None:
    """MarketData from the ccxt funding-rate dict (mark from the position when known)."""
    raw = funding_raw(ctx, symbol)
    path = f"funding_rates[{symbol!r}]"
    if raw is None:
        if mark is None:
            return None
        if fallback_rate is None:
            ctx.note(f"funding rate for {symbol} missing: funding cost reported as 0")
        return MarketData(symbol, mark, index_price=fallback_index, funding_rate=fallback_rate)
    rate = ctx.optional_number(raw.get("fundingRate"), f"{path}.fundingRate")
    index = ctx.optional_number(raw.get("indexPrice"), f"{path}.indexPrice")
    own_mark = ctx.optional_number(raw.get("markPrice"), f"{path}.markPrice")
    predicted = ctx.optional_number(raw.get("nextFundingRate"), f"{path}.nextFundingRate")
    stamp = ctx.optional_number(raw.get("fundingTimestamp"), f"{path}.fundingTimestamp")
    price = mark if mark is not None else own_mark
    if price is None:
        return None
    return MarketData(
        symbol,
        price,
        index_price=index if index is not None else fallback_index,
        funding_rate=rate if rate is not None else fallback_rate,
        predicted_funding_rate=predicted,
        next_funding_time=datetime.fromtimestamp(float(stamp) / 1000, UTC) if stamp else None,
    )


def funding_interval(ctx: Context, symbol: str) -> timedelta | None:
    raw = funding_raw(ctx, symbol)
    return parse_interval(raw.get("interval")) if raw is not None else None


def rate_tier(rate: Decimal, leverage: Decimal | None = None) -> tuple[MarginTier, ...]:
    """A single tier with `rate` and no deduction (a fallback when no tier table is given)."""
    return (MarginTier(ZERO, INFINITY, rate, ZERO, leverage),)


def derived_rate_tiers(
    ctx: Context, position: Position, venue_maintenance: Decimal | None, source: str
) -> tuple[MarginTier, ...]:
    """One tier whose rate reproduces the venue-reported maintenance at the current mark."""
    if venue_maintenance is None or position.notional <= ZERO:
        raise ctx.error(
            f"leverage_tiers[{position.symbol!r}] or {source}",
            "a tier table or the venue's maintenance margin for the position",
            None,
        )
    ctx.note(
        f"no tier table for {position.symbol}: maintenance rate derived from {source} "
        "(exact at the current mark, deduction assumed 0)"
    )
    return rate_tier(venue_maintenance / position.notional, position.leverage)


def leverage_tier_rows(ctx: Context, symbol: str) -> list[Mapping[str, Any]] | None:
    """The raw rows (each ccxt tier's `info`, else the row) of `leverage_tiers[symbol]`, if given."""
    table = ctx.leverage_tiers.get(symbol)
    if table is None:
        return None
    rows = ctx.sequence(table, f"leverage_tiers[{symbol!r}]")
    return [
        ctx.mapping(r, f"leverage_tiers[{symbol!r}][{i}]").get("info", r)
        for i, r in enumerate(rows)
    ]


def positive_or_none(value: Decimal | None) -> Decimal | None:
    """Venues report 0 (or nothing) for "not applicable": keep only positive values."""
    return value if value is not None and value > 0 else None
