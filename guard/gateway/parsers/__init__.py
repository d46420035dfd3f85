"""ccxt unified structures plus their raw `info` → domain snapshot, per venue (shell layer).

`parse_snapshot(venue, account, taken_at, raw)` reads the snapshot-file format
`{"positions": [...], "balance": {...}, "markets": {...}, "funding_rates": {...},
"account_info": ... | null}` (optional parts may be missing; an extra optional
`"leverage_tiers": {symbol: [ccxt leverage-tier dicts]}` supplies full tier tables) and returns
the AccountSnapshot plus notes on missing parts and fallbacks. It fills ccxt's known holes
(venues.md §7.6) from the raw fields. The snapshot's `taken_at` is the read time or, when older,
the venue's own time of its market data (funding/mark and order-book `timestamp`, from the
payload), so a stale payload served fresh is stale to the staleness rail. Never imports ccxt.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from guard.core.domain import AccountSnapshot, MarketData, MarketSpec, frozen_map
from guard.core.venues.registry import rules_for
from guard.gateway.parsers import binance, bybit, dydx, hyperliquid, okx, paper
from guard.gateway.parsers.common import (
    Context,
    PayloadError,
    market_data,
    market_spec,
)
from guard.gateway.parsers.venue import ParsedPosition, VenueParser

PARSERS: dict[str, VenueParser] = {
    "paper": paper.PARSER,
    "binance": binance.PARSER,
    "bybit": bybit.PARSER,
    "okx": okx.PARSER,
    "hyperliquid": hyperliquid.PARSER,
    "dydx": dydx.PARSER,
}


@dataclass(frozen=True, slots=True)
class ParsedSnapshot:
    """A parsed account snapshot and what the parser had to assume or could not find."""

    snapshot: AccountSnapshot
    notes: tuple[str, ...]


def parse_snapshot(
    venue: str, account: str, taken_at: datetime, raw: Mapping[str, Any]
) -> ParsedSnapshot:
    """Parse one snapshot-file object of `venue` into the domain; PayloadError on bad input."""
    try:
        rules = rules_for(venue)
    except ValueError as error:
        raise PayloadError(venue, "venue", "a known venue", venue) from error
    parser = PARSERS[rules.name]
    if not isinstance(raw, Mapping):
        raise PayloadError(rules.name, "$", "a snapshot object", raw)
    ctx = Context(
        venue=rules.name,
        rules=rules,
        markets=_optional_mapping(rules.name, raw, "markets"),
        funding_rates=_optional_mapping(rules.name, raw, "funding_rates"),
        leverage_tiers=_optional_mapping(rules.name, raw, "leverage_tiers"),
        account_info=raw.get("account_info"),
        notes=[],
    )
    for part in ("markets", "funding_rates", "account_info"):
        if raw.get(part) is None:
            ctx.note(f"{part} missing")
    positions_raw = raw.get("positions")
    if positions_raw is None:
        ctx.note("positions missing: the account is treated as flat")
        positions_raw = []
    parsed: list[ParsedPosition] = []
    skipped = 0
    for index, item in enumerate(ctx.sequence(positions_raw, "positions")):
        one = parser.position(ctx, index, ctx.mapping(item, f"positions[{index}]"))
        if one is None:
            skipped += 1
        else:
            parsed.append(one)
    if skipped:
        ctx.note(
            f"{skipped} position entr{'y' if skipped == 1 else 'ies'} skipped (zero size or not guarded)"
        )
    positions = tuple(p.position for p in parsed)
    keys = [p.key for p in positions]
    if len(set(keys)) != len(keys):
        raise PayloadError(
            rules.name, "positions", "at most one position per symbol and side", keys
        )
    specs: dict[str, MarketSpec] = {}
    data: dict[str, MarketData] = {}
    for one in parsed:
        symbol = one.position.symbol
        tiers = parser.tiers(ctx, one)
        specs[symbol] = market_spec(ctx, symbol, tiers, parser.interval(ctx, symbol))
        fallback_rate, fallback_index = parser.funding(ctx, symbol)
        found = market_data(ctx, symbol, one.position.mark_price, fallback_rate, fallback_index)
        if found is not None:
            data[symbol] = found
    for symbol in ctx.markets:
        if symbol not in specs:
            specs[symbol] = market_spec(ctx, symbol, (), parser.interval(ctx, symbol))
    balance_raw = raw.get("balance")
    if balance_raw is not None:
        balance_raw = ctx.mapping(balance_raw, "balance")
    balance = parser.balance(ctx, balance_raw, positions)
    venue_time = payload_time(ctx, raw, [p.symbol for p in positions])
    if venue_time is not None and venue_time < taken_at:
        ctx.note(f"payload time {venue_time.isoformat()} is older than the read time")
        taken_at = venue_time
    snapshot = AccountSnapshot(
        account=account,
        venue=rules.name,
        taken_at=taken_at,
        balance=balance,
        positions=positions,
        markets=frozen_map(specs),
        market_data=frozen_map(data),
    )
    return ParsedSnapshot(snapshot=snapshot, notes=tuple(ctx.notes))


def payload_time(ctx: Context, raw: Mapping[str, Any], symbols: list[str]) -> datetime | None:
    """The oldest venue timestamp (ccxt's unified `timestamp`, ms since the epoch, taken from the
    venue's payload) of the funding/mark and order-book entries of `symbols`; None if none has
    one. A timestamp that is not a number is a PayloadError."""
    found: list[datetime] = []
    books = _optional_mapping(ctx.venue, raw, "order_books")
    for part, entries in (("funding_rates", ctx.funding_rates), ("order_books", books)):
        for symbol in symbols:
            entry = entries.get(symbol)
            if not isinstance(entry, Mapping) or entry.get("timestamp") is None:
                continue
            path = f"{part}[{symbol}].timestamp"
            stamp = ctx.number(entry["timestamp"], path, "a time in ms")
            try:
                found.append(datetime.fromtimestamp(float(stamp) / 1000, UTC))
            except (OverflowError, OSError, ValueError):
                raise ctx.error(path, "a time in ms", entry["timestamp"]) from None
    return min(found) if found else None


def _optional_mapping(venue: str, raw: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = raw.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise PayloadError(venue, key, "an object keyed by symbol", value)
    return value


__all__ = ["PARSERS", "ParsedSnapshot", "PayloadError", "parse_snapshot", "payload_time"]
