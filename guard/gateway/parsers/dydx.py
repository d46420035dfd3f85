"""dYdX v4: ccxt positions/balance + raw indexer payloads → domain.

Fills ccxt's holes (venues.md §7.6): the balance carries only free collateral, so equity comes
from `info.equity` (the subaccount) and the wallet = equity − cross uPnL at oracle prices;
contractSize None → the market's; no mark in positions → the market's `oraclePrice` (the price
dYdX margins with), else funding-rate mark/index, else derived from `unrealizedPnl`. The
account_info is the indexer's `/v4/addresses/{address}` (every subaccount): subaccount 0 is the
cross pool (its equity only); child subaccounts (>= 128) are isolated pools, each position's
posted margin = the child's equity − uPnL; positions in parent subaccounts 1..127 are refused
(UnsupportedAccountMode), never merged into the cross pool.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from guard.core.domain import ZERO, Balance, MarginMode, MarginTier, Position, Side
from guard.core.venues import dydx as rules
from guard.gateway.base import UnsupportedAccountMode
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


def subaccounts(ctx: Context) -> list[tuple[Mapping[str, Any], str]]:
    """Every subaccount the account_info lists, with its path: the indexer's
    `/v4/addresses/{address}` (`subaccounts`), a parent subaccount
    (`subaccount.childSubaccounts`) or a single `subaccount`."""
    info = ctx.account_info
    if not isinstance(info, Mapping):
        return []
    for key, base in (("subaccounts", "account_info.subaccounts"),):
        rows = info.get(key)
        if isinstance(rows, list):
            return [(ctx.mapping(r, f"{base}[{i}]"), f"{base}[{i}]") for i, r in enumerate(rows)]
    sub = info.get("subaccount")
    if isinstance(sub, Mapping):
        children = sub.get("childSubaccounts")
        if isinstance(children, list):
            base = "account_info.subaccount.childSubaccounts"
            return [
                (ctx.mapping(r, f"{base}[{i}]"), f"{base}[{i}]") for i, r in enumerate(children)
            ]
        return [(sub, "account_info.subaccount")]
    return []


def _subaccount_equity(ctx: Context, number: int, path: str) -> Decimal:
    for sub, where in subaccounts(ctx):
        if str(sub.get("subaccountNumber")) == str(number):
            return ctx.number(sub.get("equity"), f"{where}.equity")
    raise ctx.error(
        "account_info.subaccounts",
        f"the equity of child subaccount {number} holding {path}",
        None,
    )


def subaccount_mode(ctx: Context, number: int, symbol: str) -> MarginMode:
    """Subaccount 0 is the cross pool, its children (128, 256, ...: parent = number % 128) are
    isolated pools; the other parents (1..127) are separate cross pools and their children's
    orders are not looked up with subaccount 0's: both refused."""
    if rules.is_child_subaccount(number) and number % rules.CHILD_SUBACCOUNT_START == 0:
        return MarginMode.ISOLATED
    if number == 0:
        return MarginMode.CROSS
    parent = number % rules.CHILD_SUBACCOUNT_START
    meaning = (
        f"a child of parent subaccount {parent} holding {symbol}"
        if rules.is_child_subaccount(number)
        else f"a second parent (cross) subaccount holding {symbol}"
    )
    raise UnsupportedAccountMode(
        "dydx",
        "subaccountNumber",
        number,
        meaning,
        "cross positions in subaccount 0 and isolated positions in its child subaccounts "
        "(128, 256, ...)",
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
    mode = subaccount_mode(ctx, number, symbol)
    isolated_margin = None
    if mode is MarginMode.ISOLATED:
        # the child's equity at oracle prices minus its uPnL: the margin posted to that pool
        equity = _subaccount_equity(ctx, number, path)
        isolated_margin = equity - side.sign * (mark - entry) * quantity
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


def _cross_subaccount(ctx: Context, raw: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """Subaccount 0 (the cross pool): from the account_info's subaccount list, else the balance's
    info (ccxt's fetch_balance of subaccount 0). A parent-subaccount total (which sums its
    children's equity) is never taken as the cross equity."""
    listed = subaccounts(ctx)
    for sub, _ in listed:
        if str(sub.get("subaccountNumber")) == "0":
            return sub
    if listed:  # the address has subaccounts but no subaccount 0: nothing is cross
        return {"equity": "0", "freeCollateral": "0"}
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
    sub = _cross_subaccount(ctx, raw)
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
