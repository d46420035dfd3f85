"""Hyperliquid: ccxt positions/balance + raw clearinghouseState → domain.

Fills ccxt's holes (venues.md §7.6): contractSize None in positions → the market's; ccxt gives no
maintenance, so it comes from 1/(2·maxLeverage) (market info, else the position's maxLeverage);
the mark is positionValue ÷ |szi|; isolated posted margin = marginUsed − uPnL; the cross wallet
= crossMarginSummary.accountValue − cross uPnL (ccxt may return spot balances for unified
accounts, so the clearinghouseState is also looked up in account_info). Maintenance tiers come
from the asset's `meta` margin table (market info `marginTiers`) when given. Unified-account,
portfolio-margin and DEX-abstraction modes and positions on HIP-3 DEXes are refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from guard.core.domain import ZERO, Balance, MarginMode, MarginTier, Position, Side
from guard.core.venues import hyperliquid as rules
from guard.gateway.base import UnsupportedAccountMode
from guard.gateway.parsers.common import Context, positive_or_none
from guard.gateway.parsers.venue import ParsedPosition, VenueParser, cross_pnl, mode_of, settle_of

_MODES_OK = ("default", "disabled")
_SUPPORTED = (
    "the standard account (userAbstraction 'default' or 'disabled') with cross or isolated "
    "positions on the first perp DEX"
)
_MEANINGS = {
    "unifiedAccount": "unified account: per-DEX user states are not the account's margin",
    "portfolioMargin": "portfolio margin: per-DEX user states are not the account's margin",
    "dexAbstraction": "DEX abstraction: collateral moves between perp DEXes",
}


def account_mode(ctx: Context) -> None:
    """Refuse unified-account, portfolio-margin and DEX-abstraction modes (`userAbstraction`),
    and positions on builder-deployed (HIP-3) perp DEXes (own clearinghouses). account_info is
    {"userAbstraction": str, "clearinghouseState": {...}, "dexStates": {dex: state}} or, from
    older snapshot files, the clearinghouseState alone (mode then unknown: noted)."""
    info = ctx.account_info
    if not isinstance(info, Mapping) or "clearinghouseState" not in info:
        ctx.note("hyperliquid account abstraction unknown (no userAbstraction in account_info)")
        return
    mode = info.get("userAbstraction")
    if mode is None:
        ctx.note("hyperliquid account abstraction unknown (no userAbstraction in account_info)")
    elif mode not in _MODES_OK:
        meaning = _MEANINGS.get(str(mode), "an account abstraction the guard does not know")
        raise UnsupportedAccountMode("hyperliquid", "userAbstraction", mode, meaning, _SUPPORTED)
    dexes = info.get("dexStates")
    for dex, state in dexes.items() if isinstance(dexes, Mapping) else ():
        rows = state.get("assetPositions") if isinstance(state, Mapping) else None
        coins: list[str] = []
        for i, row in enumerate(rows if isinstance(rows, list) else []):
            held = row.get("position") if isinstance(row, Mapping) else None
            where = f"account_info.dexStates[{dex!r}].assetPositions[{i}].position.szi"
            if isinstance(held, Mapping) and ctx.optional_number(held.get("szi"), where):
                coins.append(str(held.get("coin")))
        if coins:
            raise UnsupportedAccountMode(
                "hyperliquid",
                f"clearinghouseState(dex={dex!r}).assetPositions",
                coins,
                "positions on a builder-deployed (HIP-3) perp DEX with its own clearinghouse",
                _SUPPORTED,
            )


def position(ctx: Context, index: int, raw: Mapping[str, Any]) -> ParsedPosition | None:
    account_mode(ctx)
    path = f"positions[{index}]"
    symbol = ctx.text(raw.get("symbol"), f"{path}.symbol")
    outer = ctx.mapping(raw.get("info"), f"{path}.info")
    info = ctx.mapping(outer.get("position"), f"{path}.info.position")
    ipath = f"{path}.info.position"
    signed = ctx.number(info.get("szi"), f"{ipath}.szi", "a signed size")
    if signed == ZERO:
        return None
    side = Side.LONG if signed > ZERO else Side.SHORT
    quantity = abs(signed) * ctx.contract_size(raw, path)
    value = ctx.number(info.get("positionValue"), f"{ipath}.positionValue")
    mark = value / quantity
    entry = ctx.number(info.get("entryPx"), f"{ipath}.entryPx")
    leverage_info = ctx.mapping(info.get("leverage"), f"{ipath}.leverage")
    mode = mode_of(ctx, leverage_info.get("type"), f"{ipath}.leverage.type")
    if mode is None:
        raise ctx.error(f"{ipath}.leverage.type", "'cross' or 'isolated'", None)
    isolated_margin = None
    if mode is MarginMode.ISOLATED:
        used = ctx.number(info.get("marginUsed"), f"{ipath}.marginUsed")
        isolated_margin = used - side.sign * (mark - entry) * quantity
    funding = info.get("cumFunding")
    accumulated = ZERO
    if isinstance(funding, Mapping):
        accumulated = (
            ctx.optional_number(funding.get("sinceOpen"), f"{ipath}.cumFunding.sinceOpen") or ZERO
        )
    liquidation = ctx.optional_number(info.get("liquidationPx"), f"{ipath}.liquidationPx")
    return ParsedPosition(
        position=Position(
            symbol=symbol,
            side=side,
            quantity=quantity,
            entry_price=entry,
            mark_price=mark,
            margin_mode=mode,
            leverage=ctx.optional_number(leverage_info.get("value"), f"{ipath}.leverage.value"),
            isolated_margin=isolated_margin,
            venue_liquidation_price=positive_or_none(liquidation),
            accumulated_funding=accumulated,
        ),
        path=path,
        info=info,
    )


def tiers(ctx: Context, parsed: ParsedPosition) -> tuple[MarginTier, ...]:
    symbol = parsed.position.symbol
    market_info = ctx.market_info(symbol)
    table = market_info.get("marginTiers")
    if isinstance(table, list) and table:
        try:
            return rules.tiers_from_margin_table(table)
        except ValueError as error:
            raise ctx.error(
                f"markets[{symbol!r}].info.marginTiers", "margin tiers", str(error)
            ) from None
    leverage = ctx.optional_number(
        market_info.get("maxLeverage"), f"markets[{symbol!r}].info.maxLeverage"
    )
    if leverage is None:
        leverage = ctx.number(
            parsed.info.get("maxLeverage"),
            f"{parsed.path}.info.position.maxLeverage",
            "the asset's maxLeverage (market info or position)",
        )
        ctx.note(f"{symbol}: maintenance rate from the position's maxLeverage {leverage}")
    if leverage <= ZERO:
        raise ctx.error(
            f"{parsed.path}.info.position.maxLeverage", "a positive leverage", str(leverage)
        )
    return rules.tiers_for_max_leverage(leverage)


def funding(ctx: Context, symbol: str) -> tuple[Decimal | None, Decimal | None]:
    """Hourly `funding` and `oraclePx` from the market's info (metaAndAssetCtxs)."""
    info = ctx.market_info(symbol)
    path = f"markets[{symbol!r}].info"
    return (
        ctx.optional_number(info.get("funding"), f"{path}.funding"),
        ctx.optional_number(info.get("oraclePx"), f"{path}.oraclePx"),
    )


def _state(ctx: Context, raw: Mapping[str, Any] | None) -> Mapping[str, Any]:
    info = ctx.account_info
    own = info.get("clearinghouseState") if isinstance(info, Mapping) else None
    for candidate in ((raw or {}).get("info"), own, info):
        if isinstance(candidate, Mapping) and "crossMarginSummary" in candidate:
            return candidate
    raise ctx.error(
        "balance.info",
        "the perp clearinghouseState (crossMarginSummary) in balance.info or account_info",
        None if raw is None else sorted(raw)[:6],
    )


def balance(ctx: Context, raw: Mapping[str, Any] | None, positions: Sequence[Position]) -> Balance:
    account_mode(ctx)
    currency = settle_of(positions, ctx, "USDC")
    state = _state(ctx, raw)
    cross = ctx.mapping(state.get("crossMarginSummary"), "balance.info.crossMarginSummary")
    cross_value = ctx.number(
        cross.get("accountValue"), "balance.info.crossMarginSummary.accountValue"
    )
    total = state.get("marginSummary")
    equity = None
    if isinstance(total, Mapping):
        equity = ctx.optional_number(
            total.get("accountValue"), "balance.info.marginSummary.accountValue"
        )
    return Balance(
        currency=currency,
        wallet_balance=cross_value - cross_pnl(positions),
        venue_equity=equity,
        venue_maintenance_margin=ctx.optional_number(
            state.get("crossMaintenanceMarginUsed"), "balance.info.crossMaintenanceMarginUsed"
        ),
        venue_free_collateral=ctx.optional_number(
            state.get("withdrawable"), "balance.info.withdrawable"
        ),
    )


PARSER = VenueParser(position=position, tiers=tiers, balance=balance, funding=funding)
