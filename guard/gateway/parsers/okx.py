"""OKX swap: ccxt positions/balance + raw position/balance payloads → domain.

Amounts are in contracts: base units = |pos| × ctVal (position contractSize, else the market's).
Account level (`acctLv`, account_info = `/api/v5/account/config`): 2 (single-currency margin) is
handled; 1, 3 and 4 are refused. Positions other than USDT-margined SWAPs are skipped with a note
(their margin is separate under acctLv 2). Maintenance includes the taker (liquidation) fee.
Isolated margin = `margin`; maintenance amount = `mmr`; cross wallet = detail `eq` − `isoEq` −
cross uPnL of the settlement currency.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from guard.core.domain import ZERO, Balance, MarginMode, MarginTier, Position, Side
from guard.core.venues import okx as rules
from guard.gateway.base import UnsupportedAccountMode
from guard.gateway.parsers.common import (
    Context,
    positive_or_none,
    settle_currency,
)
from guard.gateway.parsers.venue import (
    ParsedPosition,
    VenueParser,
    ccxt_total,
    cross_pnl,
    isolated_equities,
    mode_of,
    settle_of,
    table_or_derived_tiers,
)

_LEVELS = {
    "1": "simple (spot) mode: no derivatives margin",
    "3": "multi-currency margin: every currency's equity is collateral in USD",
    "4": "portfolio margin: the requirement is computed on the whole portfolio",
}
_SUPPORTED = (
    "acctLv 2 (single-currency margin) with USDT-margined swaps (cross or isolated, net or "
    "long/short mode)"
)


def account_level(ctx: Context) -> None:
    """Refuse every OKX account level but 2 (`/api/v5/account/config` data[0].acctLv)."""
    info = ctx.account_info
    if info is None:
        ctx.note("OKX account level not in the snapshot: acctLv 2 assumed (live reads it)")
        return
    data = info.get("data") if isinstance(info, Mapping) else None
    config = data[0] if isinstance(data, list) and data else info
    level = config.get("acctLv") if isinstance(config, Mapping) else None
    if level is None:
        raise ctx.error(
            "account_info.data[0].acctLv",
            "the /api/v5/account/config payload with acctLv (1, 2, 3 or 4)",
            None,
        )
    if str(level) in _LEVELS:
        raise UnsupportedAccountMode("okx", "acctLv", level, _LEVELS[str(level)], _SUPPORTED)
    if str(level) != "2":
        raise ctx.error("account_info.data[0].acctLv", "1, 2, 3 or 4", level)


def position(ctx: Context, index: int, raw: Mapping[str, Any]) -> ParsedPosition | None:
    account_level(ctx)
    path = f"positions[{index}]"
    symbol = ctx.text(raw.get("symbol"), f"{path}.symbol")
    info = ctx.mapping(raw.get("info") or {}, f"{path}.info")
    kind = info.get("instType", "SWAP")
    if kind != "SWAP" or settle_currency(symbol, "USDT") != "USDT":
        # single-currency margin keeps each currency's margin apart: the USDT pool is exact
        ctx.note(
            f"{symbol} ({kind}) not guarded: guard protects USDT-margined swaps on OKX; its "
            "margin is separate from the USDT pool under acctLv 2"
        )
        return None
    contracts = ctx.number(info.get("pos"), f"{path}.info.pos", "a signed number of contracts")
    if contracts == ZERO:
        return None
    pos_side = str(info.get("posSide") or "net").lower()
    if pos_side in ("long", "short"):
        side = Side(pos_side)
    else:
        side = Side.LONG if contracts > ZERO else Side.SHORT
    quantity = rules.base_quantity(contracts, ctx.contract_size(raw, path))
    entry = ctx.number(info.get("avgPx"), f"{path}.info.avgPx")
    mark = ctx.number(info.get("markPx", raw.get("markPrice")), f"{path}.info.markPx")
    mode = mode_of(ctx, info.get("mgnMode") or raw.get("marginMode"), f"{path}.info.mgnMode")
    if mode is None:
        raise ctx.error(f"{path}.info.mgnMode", "'cross' or 'isolated'", None)
    isolated_margin = None
    if mode is MarginMode.ISOLATED:
        isolated_margin = ctx.number(info.get("margin"), f"{path}.info.margin")
    liquidation = ctx.optional_number(info.get("liqPx"), f"{path}.info.liqPx")
    maintenance = ctx.optional_number(info.get("mmr"), f"{path}.info.mmr")
    leverage = ctx.optional_number(info.get("lever"), f"{path}.info.lever")
    return ParsedPosition(
        position=Position(
            symbol=symbol,
            side=side,
            quantity=quantity,
            entry_price=entry,
            mark_price=mark,
            margin_mode=mode,
            leverage=positive_or_none(leverage),
            isolated_margin=isolated_margin,
            venue_liquidation_price=positive_or_none(liquidation),
            venue_maintenance_margin=maintenance,
            hedged=pos_side in ("long", "short"),
        ),
        path=path,
        info=info,
        venue_maintenance=maintenance,
    )


def tiers(ctx: Context, parsed: ParsedPosition) -> tuple[MarginTier, ...]:
    """Position tiers (or the venue's `mmr`) with the taker fee added to every maintenance rate:
    OKX liquidates when equity <= maintenance margin + liquidation fee (venues.md §6.2)."""
    symbol = parsed.position.symbol
    taker = ctx.optional_number(
        (ctx.market_raw(symbol) or {}).get("taker"), f"markets[{symbol!r}].taker"
    )
    if taker is None:
        taker = rules.DEFAULT_TAKER_FEE
        ctx.note(f"{symbol}: taker fee missing, OKX liquidation fee term uses {taker}")
    return rules.with_liquidation_fee(_tiers(ctx, parsed), taker)


def _tiers(ctx: Context, parsed: ParsedPosition) -> tuple[MarginTier, ...]:
    def from_contract_tiers(infos: list[Mapping[str, Any]]) -> tuple[MarginTier, ...]:
        contract_value = parsed.position.quantity / abs(
            ctx.number(parsed.info.get("pos"), f"{parsed.path}.info.pos")
        )
        ctx.note(
            f"{parsed.position.symbol}: OKX tiers (in contracts) converted to notional at the "
            "current mark"
        )
        return rules.tiers_from_position_tiers(infos, contract_value, parsed.position.mark_price)

    return table_or_derived_tiers(ctx, parsed, from_contract_tiers, "OKX position-tier rows", "mmr")


def _detail(
    ctx: Context, raw: Mapping[str, Any] | None, currency: str
) -> tuple[Mapping[str, Any], str]:
    info = (raw or {}).get("info")
    data = info.get("data") if isinstance(info, Mapping) else None
    if isinstance(data, list) and data and isinstance(data[0], Mapping):
        details = data[0].get("details")
        if isinstance(details, list):
            for index, detail in enumerate(details):
                if isinstance(detail, Mapping) and detail.get("ccy") == currency:
                    return detail, f"balance.info.data[0].details[{index}]"
    return {}, "balance.info.data[0].details[?]"


def balance(ctx: Context, raw: Mapping[str, Any] | None, positions: Sequence[Position]) -> Balance:
    account_level(ctx)
    currency = settle_of(positions, ctx, "USDT")
    detail, path = _detail(ctx, raw, currency)
    equity = ctx.optional_number(detail.get("eq"), f"{path}.eq")
    isolated = ctx.optional_number(detail.get("isoEq"), f"{path}.isoEq")
    if equity is None:
        equity = ccxt_total(ctx, raw, currency) if raw is not None else None
        if equity is None:
            raise ctx.error("balance", f"a ccxt balance with {currency} eq/total", raw)
        ctx.note("OKX balance detail missing: equity = ccxt total")
    if isolated is None:
        isolated = isolated_equities(positions)
        ctx.note("OKX isoEq missing: isolated equity summed from the isolated positions")
    return Balance(
        currency=currency,
        wallet_balance=equity - isolated - cross_pnl(positions),
        venue_equity=equity,
        venue_maintenance_margin=ctx.optional_number(detail.get("mmr"), f"{path}.mmr"),
        venue_free_collateral=ctx.optional_number(detail.get("availEq"), f"{path}.availEq"),
    )


PARSER = VenueParser(position=position, tiers=tiers, balance=balance)
