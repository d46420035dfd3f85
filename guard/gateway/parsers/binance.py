"""Binance USDⓈ-M: ccxt positions/balance + raw positionRisk / account payloads → domain.

Fills ccxt's holes (venues.md §7.6): ccxt back-solves cross collateral from the liquidation price
and computes maintenance without `cum`; here the wallet is `totalCrossWalletBalance` (cross, excl.
uPnL and isolated wallets) and maintenance comes from bracket tables or the raw `maintMargin`.
Multi-assets mode (`multiAssetsMargin`) is refused. A positionRisk row that contradicts the
account endpoint's row for the same symbol and side (or a different count of open positions) is bad
data: PayloadError naming both fields, so nothing is evaluated on it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from guard.core.domain import ZERO, Balance, MarginMode, MarginTier, Position, Side
from guard.core.venues import binance as rules
from guard.gateway.base import UnsupportedAccountMode
from guard.gateway.parsers.common import (
    Context,
    positive_or_none,
)
from guard.gateway.parsers.venue import (
    ParsedPosition,
    VenueParser,
    ccxt_total,
    cross_pnl,
    isolated_margins,
    mode_of,
    settle_of,
    table_or_derived_tiers,
)

_SUPPORTED = "single-asset mode (USDT wallet) USDⓈ-M accounts, one-way or hedge, cross or isolated"


def account_mode(ctx: Context, balance: Mapping[str, Any] | None) -> None:
    """Refuse multi-assets mode (`multiAssetsMargin` true in `/fapi/v2|v3/account`): the margin
    balance is then every asset's value at a haircut, not the USDT wallet."""
    account = _account(ctx, balance)
    value = account.get("multiAssetsMargin")
    if value is True or str(value).lower() == "true":
        raise UnsupportedAccountMode(
            "binance",
            "multiAssetsMargin",
            value,
            "multi-assets mode: every asset's haircut value is margin",
            _SUPPORTED,
        )


def position(ctx: Context, index: int, raw: Mapping[str, Any]) -> ParsedPosition | None:
    account_mode(ctx, None)
    path = f"positions[{index}]"
    symbol = ctx.text(raw.get("symbol"), f"{path}.symbol")
    info = ctx.mapping(raw.get("info") or {}, f"{path}.info")
    amount = ctx.number(info.get("positionAmt"), f"{path}.info.positionAmt")
    if amount == ZERO:
        return None
    position_side = str(info.get("positionSide") or "BOTH").upper()
    if position_side in ("LONG", "SHORT"):
        side = Side.LONG if position_side == "LONG" else Side.SHORT
    else:
        side = Side.LONG if amount > ZERO else Side.SHORT
    _agrees_with_account(ctx, path, info, amount, position_side)
    quantity = abs(amount)
    mark = ctx.optional_number(info.get("markPrice"), f"{path}.info.markPrice")
    if mark is None:
        notional = ctx.number(
            info.get("notional"), f"{path}.info.notional", "markPrice or notional"
        )
        mark = abs(notional) / quantity
        ctx.note(f"{symbol}: markPrice missing (account endpoint), used |notional| ÷ positionAmt")
    entry = ctx.optional_number(info.get("entryPrice"), f"{path}.info.entryPrice")
    if entry is None:
        entry = ctx.optional_number(raw.get("entryPrice"), f"{path}.entryPrice")
    if entry is None:
        upnl_raw = info.get("unrealizedProfit", info.get("unRealizedProfit"))
        upnl = ctx.number(upnl_raw, f"{path}.info.unrealizedProfit", "entryPrice or uPnL")
        entry = mark - upnl / (side.sign * quantity)
        ctx.note(f"{symbol}: entryPrice missing, derived from mark and unrealizedProfit")
    mode = mode_of(ctx, raw.get("marginMode"), f"{path}.marginMode") or mode_of(
        ctx, info.get("marginType"), f"{path}.info.marginType"
    )
    if mode is None:
        isolated = info.get("isolated")
        if isinstance(isolated, bool):
            mode = MarginMode.ISOLATED if isolated else MarginMode.CROSS
        else:
            wallet = ctx.optional_number(info.get("isolatedWallet"), f"{path}.info.isolatedWallet")
            mode = MarginMode.ISOLATED if wallet and wallet > ZERO else MarginMode.CROSS
            ctx.note(f"{symbol}: margin mode missing, inferred {mode.value} from isolatedWallet")
    isolated_margin = None
    if mode is MarginMode.ISOLATED:
        isolated_margin = ctx.number(info.get("isolatedWallet"), f"{path}.info.isolatedWallet")
    liquidation = ctx.optional_number(info.get("liquidationPrice"), f"{path}.info.liquidationPrice")
    leverage = ctx.optional_number(info.get("leverage"), f"{path}.info.leverage")
    if leverage is None:
        leverage = ctx.optional_number(raw.get("leverage"), f"{path}.leverage")
    maintenance = ctx.optional_number(info.get("maintMargin"), f"{path}.info.maintMargin")
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
            hedged=position_side in ("LONG", "SHORT"),
        ),
        path=path,
        info=info,
        venue_maintenance=maintenance,
    )


def _open_rows(ctx: Context, account: Mapping[str, Any]) -> int:
    """How many rows of the account endpoint's positions[] hold a non-zero positionAmt."""
    rows = ctx.sequence(account.get("positions") or [], "account.positions")
    return sum(
        1
        for index, row in enumerate(rows)
        if ctx.optional_number(
            ctx.mapping(row, f"account.positions[{index}]").get("positionAmt"),
            f"account.positions[{index}].positionAmt",
        )
    )


def _agrees_with_account(
    ctx: Context, path: str, info: Mapping[str, Any], amount: Decimal, position_side: str
) -> None:
    """positionRisk's signed amount must equal the account endpoint's for the same symbol and
    positionSide (`/fapi/v2/account` positions[].positionAmt); a flat or absent account row
    contradicts an open positionRisk row."""
    account = ctx.account_info
    if not isinstance(account, Mapping) or not isinstance(account.get("positions"), list):
        return
    for index, row in enumerate(account["positions"]):
        if not isinstance(row, Mapping) or row.get("symbol") != info.get("symbol"):
            continue
        if str(row.get("positionSide") or "BOTH").upper() != position_side:
            continue
        theirs = ctx.number(row.get("positionAmt"), f"account_info.positions[{index}].positionAmt")
        if theirs == amount:
            return
        raise ctx.error(
            f"{path}.info.positionAmt",
            f"the account endpoint's account_info.positions[{index}].positionAmt "
            f"{theirs} ({info.get('symbol')} {position_side}): contradictory payloads",
            str(amount),
        )
    raise ctx.error(
        f"{path}.info.positionAmt",
        f"a matching open row in account_info.positions ({info.get('symbol')} "
        f"{position_side}): contradictory payloads",
        str(amount),
    )


def tiers(ctx: Context, parsed: ParsedPosition) -> tuple[MarginTier, ...]:
    return table_or_derived_tiers(
        ctx, parsed, rules.tiers_from_brackets, "Binance bracket rows", "maintMargin"
    )


def _account(ctx: Context, balance: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """The `/fapi/v2|v3/account` payload: balance.info, else account_info."""
    for candidate in ((balance or {}).get("info"), ctx.account_info):
        if isinstance(candidate, Mapping) and "totalCrossWalletBalance" in candidate:
            return candidate
    return {}


def balance(ctx: Context, raw: Mapping[str, Any] | None, positions: Sequence[Position]) -> Balance:
    account_mode(ctx, raw)
    currency = settle_of(positions, ctx, "USDT")
    account = _account(ctx, raw)
    if "positions" in account and (opened := _open_rows(ctx, account)) != len(positions):
        raise ctx.error(
            "positions",
            f"as many open positions as the account endpoint's positions[] ({opened}): "
            "contradictory payloads",
            len(positions),
        )

    def number(key: str) -> Decimal | None:
        return ctx.optional_number(account.get(key), f"balance.info.{key}")

    wallet = number("totalCrossWalletBalance")
    if wallet is None:
        if raw is None:
            raise ctx.error(
                "balance", "a ccxt balance (or account_info) with totalCrossWalletBalance"
            )
        total = ccxt_total(ctx, raw, currency)
        if total is None:
            raise ctx.error(f"balance.{currency}.total", "the settlement currency's total", None)
        wallet = total - cross_pnl(positions) - isolated_margins(positions)
        ctx.note(
            "totalCrossWalletBalance missing: wallet = ccxt total (margin balance) − cross uPnL "
            "− isolated wallets"
        )
    return Balance(
        currency=currency,
        wallet_balance=wallet,
        venue_equity=number("totalMarginBalance"),
        venue_maintenance_margin=number("totalMaintMargin"),
        venue_free_collateral=number("availableBalance"),
    )


PARSER = VenueParser(position=position, tiers=tiers, balance=balance)
