"""The paper venue (and any venue speaking plain ccxt unified fields): unified dicts → domain.

Quantities = contracts × contractSize; the wallet is the settlement currency's ccxt `total`
minus cross uPnL and isolated margins (`collateral` − uPnL for isolated positions); tiers are the
paper venue's tier table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from guard.core.domain import ZERO, Balance, MarginMode, MarginTier, Position, Side
from guard.core.venues.paper import DEFAULT_TIERS
from guard.gateway.parsers.common import Context, positive_or_none
from guard.gateway.parsers.venue import (
    ParsedPosition,
    VenueParser,
    ccxt_total,
    cross_pnl,
    isolated_margins,
    mode_of,
    settle_of,
)


def position(ctx: Context, index: int, raw: Mapping[str, Any]) -> ParsedPosition | None:
    path = f"positions[{index}]"
    symbol = ctx.text(raw.get("symbol"), f"{path}.symbol")
    contracts = ctx.number(raw.get("contracts"), f"{path}.contracts")
    if contracts == ZERO:
        return None
    side_raw = raw.get("side")
    if side_raw not in ("long", "short"):
        raise ctx.error(f"{path}.side", "'long' or 'short'", side_raw)
    side = Side(side_raw)
    quantity = abs(contracts) * ctx.contract_size(raw, path)
    entry = ctx.number(raw.get("entryPrice"), f"{path}.entryPrice")
    mark = ctx.number(raw.get("markPrice"), f"{path}.markPrice")
    mode = mode_of(ctx, raw.get("marginMode"), f"{path}.marginMode") or MarginMode.CROSS
    isolated_margin = None
    if mode is MarginMode.ISOLATED:
        collateral = ctx.number(raw.get("collateral"), f"{path}.collateral")
        isolated_margin = collateral - side.sign * (mark - entry) * quantity
    liquidation = ctx.optional_number(raw.get("liquidationPrice"), f"{path}.liquidationPrice")
    return ParsedPosition(
        position=Position(
            symbol=symbol,
            side=side,
            quantity=quantity,
            entry_price=entry,
            mark_price=mark,
            margin_mode=mode,
            leverage=ctx.optional_number(raw.get("leverage"), f"{path}.leverage"),
            isolated_margin=isolated_margin,
            venue_liquidation_price=positive_or_none(liquidation),
            hedged=raw.get("hedged") is True,
        ),
        path=path,
    )


def tiers(ctx: Context, parsed: ParsedPosition) -> tuple[MarginTier, ...]:
    return DEFAULT_TIERS


def balance(ctx: Context, raw: Mapping[str, Any] | None, positions: Sequence[Position]) -> Balance:
    currency = settle_of(positions, ctx, "USDT")
    total = ccxt_total(ctx, raw, currency) if raw is not None else None
    if total is None:
        raise ctx.error(f"balance.{currency}.total", "the settlement currency's total", raw)
    return Balance(currency, total - cross_pnl(positions) - isolated_margins(positions))


PARSER = VenueParser(position=position, tiers=tiers, balance=balance)
