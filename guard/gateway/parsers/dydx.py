"""dYdX v4: ccxt positions/balance + raw indexer payloads → domain.

Fills ccxt's holes (venues.md §7.6): the balance carries only free collateral, so equity comes
from `info.equity` (the subaccount) and the wallet = equity − cross uPnL at oracle prices;
contractSize None → the market's; no mark in positions → the market's `oraclePrice` (the price
dYdX margins with), else funding-rate mark/index, else derived from `unrealizedPnl`. Child
subaccounts (>= 128) are "isolated": their posted margin = the child's equity − uPnL, from
account_info.subaccount.childSubaccounts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from guard.core.domain import ZERO, Balance, MarginMode, MarginTier, Position, Side
from guard.core.venues import dydx as rules
from guard.gateway.parsers.common import Context, funding_raw
from guard.gateway.parsers.venue import ParsedPosition, VenueParser, ccxt_free, cross_pnl, settle_of


def _oracle(ctx: Context, symbol: str) -> Decimal | None:
    info = ctx.market_info(symbol)
    price = ctx.optional_number(info.get("oraclePrice"), f"markets[{symbol!r}].info.oraclePrice")
    if price is not None:
        return price
    raw = funding_raw(ctx, symbol)
    if raw is not None:
        for key in ("indexPrice", "markPrice"):
            price = ctx.optional_number(raw.get(key), f"funding_rates[{symbol!r}].{key}")
            if price is not None:
                return price
    return None


def _child_equity(ctx: Context, number: int, path: str) -> Decimal:
    info = ctx.account_info
    sub = info.get("subaccount") if isinstance(info, Mapping) else None
    children = sub.get("childSubaccounts") if isinstance(sub, Mapping) else None
    if isinstance(children, list):
        for index, child in enumerate(children):
            if isinstance(child, Mapping) and str(child.get("subaccountNumber")) == str(number):
                where = f"account_info.subaccount.childSubaccounts[{index}].equity"
                return ctx.number(child.get("equity"), where)
    raise ctx.error(
        "account_info.subaccount.childSubaccounts",
        f"the equity of child subaccount {number} holding {path}",
        None,
    )


def position(ctx: Context, index: int, raw: Mapping[str, Any]) -> ParsedPosition | None:
    path = f"positions[{index}]"
    symbol = ctx.text(raw.get("symbol"), f"{path}.symbol")
    info = ctx.mapping(raw.get("info"), f"{path}.info")
    signed = ctx.number(info.get("size"), f"{path}.info.size", "a signed size")
    if signed == ZERO:
        return None
    side = Side.LONG if signed > ZERO else Side.SHORT
    quantity = abs(signed) * ctx.contract_size(raw, path)
    entry = ctx.number(info.get("entryPrice"), f"{path}.info.entryPrice")
    upnl = ctx.optional_number(info.get("unrealizedPnl"), f"{path}.info.unrealizedPnl")
    mark = _oracle(ctx, symbol)
    if mark is None:
        if upnl is None:
            raise ctx.error(f"markets[{symbol!r}].info.oraclePrice", "the oracle price", None)
        mark = entry + upnl / (side.sign * quantity)
        ctx.note(f"{symbol}: no oracle price, mark derived from entryPrice and unrealizedPnl")
    number_raw = info.get("subaccountNumber", 0)
    number = int(ctx.number(number_raw, f"{path}.info.subaccountNumber"))
    mode = MarginMode.ISOLATED if rules.is_child_subaccount(number) else MarginMode.CROSS
    isolated_margin = None
    if mode is MarginMode.ISOLATED:
        isolated_margin = _child_equity(ctx, number, path) - side.sign * (mark - entry) * quantity
    net_funding = ctx.optional_number(info.get("netFunding"), f"{path}.info.netFunding") or ZERO
    return ParsedPosition(
        position=Position(
            symbol=symbol,
            side=side,
            quantity=quantity,
            entry_price=entry,
            mark_price=mark,
            margin_mode=mode,
            isolated_margin=isolated_margin,
            accumulated_funding=-net_funding,  # the indexer's netFunding is received (+)
        ),
        path=path,
        info=info,
    )


def tiers(ctx: Context, parsed: ParsedPosition) -> tuple[MarginTier, ...]:
    symbol = parsed.position.symbol
    info = ctx.market_info(symbol)
    path = f"markets[{symbol!r}].info"
    imf = ctx.number(info.get("initialMarginFraction"), f"{path}.initialMarginFraction")
    mmf = ctx.number(info.get("maintenanceMarginFraction"), f"{path}.maintenanceMarginFraction")
    lower = ctx.optional_number(info.get("openInterestLowerCap"), f"{path}.openInterestLowerCap")
    upper = ctx.optional_number(info.get("openInterestUpperCap"), f"{path}.openInterestUpperCap")
    interest = ctx.optional_number(info.get("openInterest"), f"{path}.openInterest")
    if upper is not None and upper > ZERO and interest is not None:
        try:
            imf = rules.effective_imf(
                imf, interest * parsed.position.mark_price, lower or ZERO, upper
            )
        except ValueError as error:
            raise ctx.error(
                f"{path}.openInterestUpperCap", "caps with lower < upper", str(error)
            ) from None
    try:
        return rules.tiers(imf, mmf)
    except ValueError as error:
        raise ctx.error(
            f"{path}.initialMarginFraction/maintenanceMarginFraction",
            "initialMarginFraction > 0 and maintenanceMarginFraction >= 0",
            str(error),
        ) from None


def funding(ctx: Context, symbol: str) -> tuple[Decimal | None, Decimal | None]:
    """The indexer's `nextFundingRate` (a 1 h rate) and the oracle price from the market info."""
    info = ctx.market_info(symbol)
    path = f"markets[{symbol!r}].info"
    return (
        ctx.optional_number(info.get("nextFundingRate"), f"{path}.nextFundingRate"),
        ctx.optional_number(info.get("oraclePrice"), f"{path}.oraclePrice"),
    )


def _subaccount(ctx: Context, raw: Mapping[str, Any] | None) -> Mapping[str, Any]:
    for candidate in ((raw or {}).get("info"), ctx.account_info):
        if isinstance(candidate, Mapping):
            nested = candidate.get("subaccount")
            found = nested if isinstance(nested, Mapping) else candidate
            if "equity" in found:
                return found
    raise ctx.error(
        "balance.info.equity", "the subaccount equity (balance.info or account_info)", None
    )


def balance(ctx: Context, raw: Mapping[str, Any] | None, positions: Sequence[Position]) -> Balance:
    currency = settle_of(positions, ctx, "USDC")
    sub = _subaccount(ctx, raw)
    equity = ctx.number(sub.get("equity"), "balance.info.equity")
    free = ctx.optional_number(sub.get("freeCollateral"), "balance.info.freeCollateral")
    if free is None and raw is not None:
        free = ccxt_free(ctx, raw, currency)
    ctx.note("dYdX balance: equity from info.equity (ccxt total is None), wallet = equity − uPnL")
    return Balance(
        currency=currency,
        wallet_balance=equity - cross_pnl(positions),
        venue_equity=equity,
        venue_free_collateral=free,
    )


PARSER = VenueParser(position=position, tiers=tiers, balance=balance, funding=funding)
