"""Bybit v5 linear (UTA): ccxt positions/balance + raw position/wallet/account-info → domain.

Fills ccxt's holes (venues.md §7.6): ccxt's `marginMode` is always None, so the mode comes from
account_info (`/v5/account/info` marginMode, required; the positions' `tradeMode` is deprecated
and always 0 on unified accounts); portfolio margin and classic accounts are refused. USDT and
USDC perps are both read; positions in both settle coins at once are refused. The wallet balance
excludes uPnL (ccxt `total` = walletBalance) and, on UTA, includes isolated position margin,
which is subtracted to get the cross wallet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

from guard.core.domain import ZERO, Balance, MarginMode, MarginTier, Position, Side
from guard.core.venues import bybit as rules
from guard.gateway.base import UnsupportedAccountMode
from guard.gateway.parsers.common import (
    Context,
    funding_interval,
    positive_or_none,
    settle_currency,
    submap,
)
from guard.gateway.parsers.venue import (
    ParsedPosition,
    VenueParser,
    ccxt_total,
    isolated_margins,
    settle_of,
    table_or_derived_tiers,
)

_ACCOUNT_MODES = {
    "ISOLATED_MARGIN": MarginMode.ISOLATED,
    "REGULAR_MARGIN": MarginMode.CROSS,
}
_SUPPORTED = (
    "unified trading accounts in REGULAR_MARGIN (cross) or ISOLATED_MARGIN, USDT- or "
    "USDC-settled linear perpetuals"
)


def account_mode(ctx: Context) -> MarginMode:
    """The UTA margin mode from `/v5/account/info` (account_info.result.marginMode).

    Bybit documents the positions' `tradeMode` as deprecated and always 0 on unified accounts, so
    it is never read. Portfolio margin (per-position IM/MM/liqPrice empty, risk limits not
    applied) and classic (non-unified) accounts are refused.
    """
    info = ctx.account_info
    result = submap(info, "result") or info if isinstance(info, Mapping) else None
    if not isinstance(result, Mapping) or result.get("marginMode") is None:
        raise ctx.error(
            "account_info.result.marginMode",
            "the /v5/account/info payload (REGULAR_MARGIN, ISOLATED_MARGIN or PORTFOLIO_MARGIN)",
            None if not isinstance(result, Mapping) else sorted(result)[:6],
        )
    status = result.get("unifiedMarginStatus")
    if status in (1, "1"):
        raise UnsupportedAccountMode(
            "bybit", "unifiedMarginStatus", status, "a classic (non-unified) account", _SUPPORTED
        )
    value = result.get("marginMode")
    if value == "PORTFOLIO_MARGIN":
        raise UnsupportedAccountMode(
            "bybit",
            "marginMode",
            value,
            "portfolio margin: per-position IM/MM/liqPrice are empty and risk limits do not apply",
            _SUPPORTED,
        )
    if not isinstance(value, str) or value not in _ACCOUNT_MODES:
        raise ctx.error(
            "account_info.result.marginMode",
            "REGULAR_MARGIN, ISOLATED_MARGIN or PORTFOLIO_MARGIN",
            value,
        )
    return _ACCOUNT_MODES[value]


def position(ctx: Context, index: int, raw: Mapping[str, Any]) -> ParsedPosition | None:
    path = f"positions[{index}]"
    symbol = ctx.text(raw.get("symbol"), f"{path}.symbol")
    info = ctx.mapping(raw.get("info") or {}, f"{path}.info")
    size = ctx.number(info.get("size", raw.get("contracts")), f"{path}.info.size")
    if size == ZERO:
        return None
    raw_side = info.get("side") or raw.get("side")
    if raw_side in ("Buy", "long"):
        side = Side.LONG
    elif raw_side in ("Sell", "short"):
        side = Side.SHORT
    else:
        raise ctx.error(f"{path}.info.side", "'Buy' or 'Sell'", raw_side)
    quantity = abs(size) * ctx.contract_size(raw, path)
    entry = ctx.number(info.get("avgPrice", raw.get("entryPrice")), f"{path}.info.avgPrice")
    mark = ctx.number(info.get("markPrice", raw.get("markPrice")), f"{path}.info.markPrice")
    mode = account_mode(ctx)
    isolated_margin = None
    if mode is MarginMode.ISOLATED:
        balance_field = ctx.optional_number(
            info.get("positionBalance"), f"{path}.info.positionBalance"
        )
        if balance_field is not None and balance_field > ZERO:
            isolated_margin = balance_field
        else:
            isolated_margin = ctx.number(info.get("positionIM"), f"{path}.info.positionIM")
            ctx.note(f"{symbol}: positionBalance empty, isolated margin = positionIM")
    liquidation = ctx.optional_number(info.get("liqPrice"), f"{path}.info.liqPrice")
    maintenance = ctx.optional_number(info.get("positionMM"), f"{path}.info.positionMM")
    leverage = ctx.optional_number(info.get("leverage"), f"{path}.info.leverage")
    index_raw = info.get("positionIdx")
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
            hedged=index_raw in (1, 2, "1", "2"),
        ),
        path=path,
        info=info,
        venue_maintenance=maintenance,
    )


def tiers(ctx: Context, parsed: ParsedPosition) -> tuple[MarginTier, ...]:
    return table_or_derived_tiers(
        ctx, parsed, rules.tiers_from_risk_limits, "Bybit risk-limit rows", "positionMM"
    )


def _wallet_account(ctx: Context, raw: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """The first account of `/v5/account/wallet-balance` (result.list[0] or list[0])."""
    info = (raw or {}).get("info")
    if not isinstance(info, Mapping):
        return {}
    result = submap(info, "result") or info
    accounts = result.get("list")
    if isinstance(accounts, list) and accounts and isinstance(accounts[0], Mapping):
        return accounts[0]
    return {}


def balance(ctx: Context, raw: Mapping[str, Any] | None, positions: Sequence[Position]) -> Balance:
    settles = sorted({settle_currency(p.symbol, "USDT") for p in positions})
    if len(settles) > 1:
        raise UnsupportedAccountMode(
            "bybit",
            "positions[].symbol settle coin",
            settles,
            "positions settled in more than one coin share one unified margin",
            _SUPPORTED + " (one settle coin at a time)",
        )
    currency = settles[0] if settles else settle_of(positions, ctx, "USDT")
    account = _wallet_account(ctx, raw)
    path = "balance.info.result.list[0]"
    wallet: Decimal | None = None
    coins = account.get("coin")
    if isinstance(coins, list):
        for index, coin in enumerate(coins):
            if isinstance(coin, Mapping) and coin.get("coin") == currency:
                wallet = ctx.number(
                    coin.get("walletBalance"), f"{path}.coin[{index}].walletBalance"
                )
    if wallet is None and raw is not None:
        wallet = ccxt_total(ctx, raw, currency)
    if wallet is None:
        raise ctx.error("balance", f"a ccxt balance with {currency} walletBalance/total", raw)
    isolated = isolated_margins(positions)
    if isolated:
        ctx.note("cross wallet = walletBalance − isolated position margin (UTA keeps it inside)")
    return Balance(
        currency=currency,
        wallet_balance=wallet - isolated,
        venue_equity=ctx.optional_number(account.get("totalEquity"), f"{path}.totalEquity"),
        venue_maintenance_margin=ctx.optional_number(
            account.get("totalMaintenanceMargin"), f"{path}.totalMaintenanceMargin"
        ),
        venue_free_collateral=ctx.optional_number(
            account.get("totalAvailableBalance"), f"{path}.totalAvailableBalance"
        ),
    )


def interval(ctx: Context, symbol: str) -> timedelta | None:
    """The funding dict's interval, else instruments-info `fundingInterval` (minutes)."""
    found = funding_interval(ctx, symbol)
    if found is not None:
        return found
    path = f"markets[{symbol!r}].info.fundingInterval"
    minutes = ctx.optional_number(ctx.market_info(symbol).get("fundingInterval"), path)
    if minutes is None:
        return None
    try:
        return rules.funding_interval_from_minutes(minutes)
    except ValueError:
        raise ctx.error(path, "positive minutes", str(minutes)) from None


PARSER = VenueParser(position=position, tiers=tiers, balance=balance, interval=interval)
