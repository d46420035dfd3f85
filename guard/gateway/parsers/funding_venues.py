"""The account's own funding payments of Binance USDⓈ-M, Bybit v5, OKX and dYdX v4 → FundingPayment;
pure (plain dicts the ccxt gateway fetched, never ccxt itself). Sign: the payment's `amount` is
what the position PAID (venue payloads say what the account received: amount = -received).

The side comes from the payload when it states one (Bybit's signed `size`, dYdX's `side`), else
from the venue rule "a positive rate: longs pay shorts" (venues.md §1) applied to the settled
rate of that funding time: a position that paid at a positive rate is long, at a negative rate
short (Binance's income and OKX's bills name no side; hedge mode holds both). A payment whose
side cannot be told (no settled rate at that time, or a zero rate with money moving) is an
error naming the venue and the payload field, never a guess."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from guard.core.domain import ZERO, Side
from guard.core.funding_ledger import FundingPayment
from guard.gateway.parsers.common import PayloadError

# a payment is matched to the settled rate of the funding time nearest to it within this window
# (Binance books income at the funding time; OKX bills a few seconds after it; intervals >= 1 h)
MATCH_WINDOW = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class SettledRate:
    """One funding time of one market as its rate history states it."""

    at: datetime
    rate: Decimal
    price: Decimal | None = None  # the mark the venue settled at, when the history says


def _number(venue: str, value: Any, path: str, expected: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise PayloadError(venue, path, expected, value)
    try:
        number = Decimal(str(value)) if value != "" else None
    except ArithmeticError:
        number = None
    if number is None or not number.is_finite():
        raise PayloadError(venue, path, expected, value)
    return number


def _millis(venue: str, value: Any, path: str) -> datetime:
    millis = _number(venue, value, path, "epoch milliseconds")
    return datetime.fromtimestamp(float(millis) / 1000, tz=UTC)


def _mapping(venue: str, value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise PayloadError(venue, path, "an object", value)
    return value


def _symbol(venue: str, symbols: Mapping[str, str], market_id: Any, path: str) -> str:
    if not isinstance(market_id, str) or market_id not in symbols:
        raise PayloadError(venue, path, "a listed perpetual market id", market_id)
    return symbols[market_id]


def side_of_payment(venue: str, paid: Decimal, rate: SettledRate | None, path: str) -> Side | None:
    """The side that pays `paid` (+) or receives (-) at `rate`; None when nothing moved."""
    if paid == ZERO:
        return None
    if rate is None:
        raise PayloadError(venue, path, "a settled funding rate at this time (none found)")
    if rate.rate == ZERO:
        raise PayloadError(venue, path, "no money moving at a zero funding rate", paid)
    return Side.LONG if (paid > ZERO) == (rate.rate > ZERO) else Side.SHORT


def nearest_rate(rates: Sequence[SettledRate], at: datetime) -> SettledRate | None:
    """The settled rate of the funding time nearest `at` within MATCH_WINDOW, if any."""
    best = min(rates, key=lambda r: abs(r.at - at), default=None)
    return best if best is not None and abs(best.at - at) <= MATCH_WINDOW else None


def binance_rates(entries: Sequence[Any]) -> list[SettledRate]:
    """ccxt fetch_funding_rate_history entries of one market (raw `/fapi/v1/fundingRate` rows
    in `info`: fundingTime, fundingRate, markPrice)."""
    found = []
    for index, entry in enumerate(entries):
        path = f"funding_rate_history[{index}].info"
        info = _mapping("binance", entry.get("info") if isinstance(entry, dict) else None, path)
        mark = info.get("markPrice")
        found.append(
            SettledRate(
                _millis("binance", info.get("fundingTime"), f"{path}.fundingTime"),
                _number("binance", info.get("fundingRate"), f"{path}.fundingRate", "a rate"),
                None
                if mark in (None, "")
                else _number("binance", mark, f"{path}.markPrice", "a price"),
            )
        )
    return found


def binance_payments(
    entries: Sequence[Any], rates: Mapping[str, Sequence[SettledRate]]
) -> list[FundingPayment]:
    """ccxt fetch_funding_history entries (raw `/fapi/v1/income` FUNDING_FEE rows in `info`:
    income is what the account received, negative when it paid); side from the settled rate."""
    payments = []
    for index, entry in enumerate(entries):
        path = f"funding_history[{index}]"
        info = _mapping("binance", entry.get("info") if isinstance(entry, dict) else None, path)
        if info.get("incomeType") != "FUNDING_FEE":
            raise PayloadError("binance", f"{path}.info.incomeType", "FUNDING_FEE", info)
        symbol = entry.get("symbol")
        if not isinstance(symbol, str) or not symbol:
            raise PayloadError("binance", f"{path}.symbol", "a market symbol", symbol)
        paid = -_number("binance", info.get("income"), f"{path}.info.income", "an amount")
        at = _millis("binance", info.get("time"), f"{path}.info.time")
        rate = nearest_rate(rates.get(symbol, ()), at)
        side = side_of_payment("binance", paid, rate, f"{path}.info.time")
        if side is None or rate is None:
            continue
        quantity = None
        if rate.price is not None and rate.price > ZERO:
            quantity = abs(paid) / (abs(rate.rate) * rate.price)
        payments.append(FundingPayment(at, symbol, side, paid, quantity, rate.price, rate.rate))
    return payments


def okx_rates(entries: Sequence[Any]) -> list[SettledRate]:
    """ccxt fetch_funding_rate_history entries of one market (raw `/api/v5/public/
    funding-rate-history` rows in `info`: fundingTime, realizedRate — the rate actually settled)."""
    found = []
    for index, entry in enumerate(entries):
        path = f"funding_rate_history[{index}].info"
        info = _mapping("okx", entry.get("info") if isinstance(entry, dict) else None, path)
        found.append(
            SettledRate(
                _millis("okx", info.get("fundingTime"), f"{path}.fundingTime"),
                _number("okx", info.get("realizedRate"), f"{path}.realizedRate", "a rate"),
            )
        )
    return found


OKX_FUNDING_EXPENSE, OKX_FUNDING_INCOME = "173", "174"


def okx_payments(
    entries: Sequence[Any],
    rates: Mapping[str, Sequence[SettledRate]],
    contract_sizes: Mapping[str, Decimal],
) -> list[FundingPayment]:
    """ccxt fetch_funding_history entries (raw `/api/v5/account/bills-archive` type 8 rows in
    `info`: balChg signed as the account sees it, subType 173 expense / 174 income, sz the
    position in contracts); side from the settled rate."""
    payments = []
    for index, entry in enumerate(entries):
        path = f"funding_history[{index}]"
        info = _mapping("okx", entry.get("info") if isinstance(entry, dict) else None, path)
        if info.get("type") != "8":
            raise PayloadError("okx", f"{path}.info.type", '"8" (funding fee)', info.get("type"))
        sub = info.get("subType")
        if sub not in (OKX_FUNDING_EXPENSE, OKX_FUNDING_INCOME):
            raise PayloadError("okx", f"{path}.info.subType", '"173" or "174"', sub)
        symbol = entry.get("symbol")
        if not isinstance(symbol, str) or symbol not in contract_sizes:
            raise PayloadError("okx", f"{path}.symbol", "a listed SWAP market", symbol)
        change = info.get("balChg")
        if change in (None, "") or Decimal(str(change)) == ZERO:  # isolated: the position's
            change = info.get("posBalChg")  # margin moves, not the balance (as ccxt reads it)
        received = _number("okx", change, f"{path}.info.balChg", "an amount")
        if (sub == OKX_FUNDING_EXPENSE and received > ZERO) or (
            sub == OKX_FUNDING_INCOME and received < ZERO
        ):
            raise PayloadError(
                "okx", f"{path}.info.balChg", f"a sign matching subType {sub}", change
            )
        paid = -received
        at = _millis("okx", info.get("ts"), f"{path}.info.ts")
        rate = nearest_rate(rates.get(symbol, ()), at)
        side = side_of_payment("okx", paid, rate, f"{path}.info.ts")
        if side is None or rate is None:
            continue
        size = info.get("sz")
        quantity = (
            None
            if size in (None, "")
            else abs(_number("okx", size, f"{path}.info.sz", "contracts")) * contract_sizes[symbol]
        )
        payments.append(FundingPayment(at, symbol, side, paid, quantity, None, rate.rate))
    return payments


def bybit_payments(rows: Sequence[Any], symbols: Mapping[str, str]) -> list[FundingPayment]:
    """Raw `/v5/account/transaction-log` SETTLEMENT rows (unified account): `funding` is what the
    account received (positive) or paid (negative), `size` the position with its direction
    (short "-"), `tradePrice` the settlement price. The rate is left unknown: `feeRate` is
    documented as the funding rate, signed by side, only for the pre-upgrade log."""
    payments = []
    for index, raw in enumerate(rows):
        path = f"result.list[{index}]"
        row = _mapping("bybit", raw, path)
        if row.get("type") != "SETTLEMENT":
            raise PayloadError("bybit", f"{path}.type", "SETTLEMENT", row.get("type"))
        symbol = _symbol("bybit", symbols, row.get("symbol"), f"{path}.symbol")
        funding = row.get("funding")
        if funding in (None, ""):
            continue  # a USDC session settlement without funding
        paid = -_number("bybit", funding, f"{path}.funding", "an amount")
        signed = _number("bybit", row.get("size"), f"{path}.size", "a signed position size")
        if signed == ZERO:
            if paid == ZERO:
                continue
            raise PayloadError("bybit", f"{path}.size", "a non-zero position paying funding", 0)
        price = row.get("tradePrice")
        payments.append(
            FundingPayment(
                _millis("bybit", row.get("transactionTime"), f"{path}.transactionTime"),
                symbol,
                Side.LONG if signed > ZERO else Side.SHORT,
                paid,
                abs(signed),
                None
                if price in (None, "")
                else _number("bybit", price, f"{path}.tradePrice", "a price"),
            )
        )
    return payments


def dydx_payments(rows: Sequence[Any], symbols: Mapping[str, str]) -> list[FundingPayment]:
    """Raw indexer `fundingPayments` rows (`/v4/fundingPayments[/parentSubaccount]`): the indexer
    books payment = -size x oraclePrice x rate (v4-chain roundtable update_funding_payments.sql),
    so a positive `payment` is received; `side` LONG/SHORT, `size` signed, `rate` hourly."""
    payments = []
    for index, raw in enumerate(rows):
        path = f"fundingPayments[{index}]"
        row = _mapping("dydx", raw, path)
        symbol = _symbol("dydx", symbols, row.get("ticker"), f"{path}.ticker")
        side_text = row.get("side")
        if side_text not in ("LONG", "SHORT"):
            raise PayloadError("dydx", f"{path}.side", "LONG or SHORT", side_text)
        created = row.get("createdAt")
        try:
            at = datetime.fromisoformat(str(created).replace("Z", "+00:00"))
        except ValueError:
            raise PayloadError("dydx", f"{path}.createdAt", "an ISO-8601 time", created) from None
        if at.tzinfo is None:
            raise PayloadError("dydx", f"{path}.createdAt", "a time with its UTC offset", created)
        payments.append(
            FundingPayment(
                at.astimezone(UTC),
                symbol,
                Side.LONG if side_text == "LONG" else Side.SHORT,
                -_number("dydx", row.get("payment"), f"{path}.payment", "an amount"),
                abs(_number("dydx", row.get("size"), f"{path}.size", "a size")),
                _number("dydx", row.get("oraclePrice"), f"{path}.oraclePrice", "a price"),
                _number("dydx", row.get("rate"), f"{path}.rate", "a rate"),
            )
        )
    return payments
