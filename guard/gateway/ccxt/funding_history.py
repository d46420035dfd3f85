"""The account's own funding payments through ccxt, per venue: ccxt's fetchFundingHistory where it
unifies the venue's endpoint (Hyperliquid userFunding, Binance /fapi/v1/income FUNDING_FEE, OKX
bills type 8, with the settled rate history telling the side), ccxt's implicit endpoint where it
does not (Bybit /v5/account/transaction-log SETTLEMENT: ccxt reads the execution list, whose side
of a funding row is undocumented; dYdX indexer fundingPayments of subaccount 0 and its children).
Not pure (venue reads through the session's translated, retried `_read`); parsing is the
parsers' job. Paging is bounded: MAX_PAGES requests per endpoint, then a clear error."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from guard.core.funding_ledger import FundingPayment
from guard.gateway.base import FundingHistoryUnavailable, GatewayError
from guard.gateway.ccxt.session import CcxtSession
from guard.gateway.parsers.funding_history import hyperliquid_payments
from guard.gateway.parsers.funding_venues import (
    MATCH_WINDOW,
    SettledRate,
    binance_payments,
    binance_rates,
    bybit_payments,
    dydx_payments,
    okx_payments,
    okx_rates,
)

READABLE = ("hyperliquid", "binance", "bybit", "okx", "dydx")
MAX_PAGES = 50
BINANCE_PAGE = 1000  # /fapi/v1/income: max limit
BINANCE_RATE_PAGE = 1000  # /fapi/v1/fundingRate: max limit
OKX_PAGE = 100  # bills-archive and funding-rate-history: max limit
BYBIT_PAGE = 50  # transaction-log: max limit
BYBIT_WINDOW = timedelta(days=7)  # transaction-log: endTime - startTime <= 7 days
BYBIT_RETENTION = timedelta(days=730)  # transaction-log: "up to 2 years worth of data"
DYDX_PAGE = 1000
HYPERLIQUID_PAGE = 500  # userFunding answers at most 500 entries
DYDX_PARENT = 0  # the guard's dYdX account: parent subaccount 0 and its children 128, 256, ...


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _too_many(venue: str, what: str) -> GatewayError:
    return GatewayError(f"{venue}: {what} has more than {MAX_PAGES} pages; ask a shorter --since")


def _key(entry: Any) -> str:
    """One history entry's identity: its raw venue row."""
    return json.dumps(entry.get("info"), sort_keys=True, default=str)


def _swap_symbols(client: Any) -> dict[str, str]:
    """Venue market id -> unified symbol of the client's perpetual (swap) markets."""
    return {
        str(m["id"]): str(m["symbol"])
        for m in (client.markets or {}).values()
        if m.get("swap") and m.get("id")
    }


class CcxtFundingHistory(CcxtSession):
    """fetch_funding_history of CcxtGateway (see guard.gateway.base.FundingHistory)."""

    async def fetch_funding_history(self, account: str, since: datetime) -> list[FundingPayment]:
        """The account's own funding payments since `since` (every venue of READABLE)."""
        if self.venue not in READABLE:
            raise FundingHistoryUnavailable(f"{self.venue}: no funding history is read")
        client = await self._ready(account)
        if self.venue == "hyperliquid":
            return hyperliquid_payments(await self._forward(client, since, HYPERLIQUID_PAGE))
        if self.venue == "binance":
            return await self._binance(client, since)
        if self.venue == "okx":
            return await self._okx(client, since)
        if self.venue == "bybit":
            return await self._bybit(client, since)
        return await self._dydx(client, since)

    async def _forward(
        self, client: Any, since: datetime, size: int, symbol: str | None = None
    ) -> list[Any]:
        """Every entry of ccxt's fetch_funding_history (or, with `symbol`, its funding rate
        history) from `since`, paged forward from the newest entry's time. The next page starts
        AT that time (several markets settle at one time), so entries seen twice are dropped."""
        entries: list[Any] = []
        seen: set[str] = set()
        start = _ms(since)
        what = "fetch_funding_history" if symbol is None else "fetch_funding_rate_history"
        for _ in range(MAX_PAGES):
            # Hyperliquid takes no limit (it answers at most HYPERLIQUID_PAGE entries)
            limit = None if self.venue == "hyperliquid" else size
            call = (
                functools.partial(client.fetch_funding_history, None, start, limit)
                if symbol is None
                else functools.partial(client.fetch_funding_rate_history, symbol, start, size)
            )
            page = list(await self._read(what, call))
            fresh = [e for e in page if _key(e) not in seen]
            seen.update(_key(e) for e in fresh)
            entries += fresh
            if len(page) < size:
                return entries
            if not fresh:
                raise GatewayError(f"{self.venue}: more than {size} {what} entries at one time")
            start = max(int(e["timestamp"]) for e in page)
        raise _too_many(self.venue, what)

    async def _binance(self, client: Any, since: datetime) -> list[FundingPayment]:
        entries = await self._forward(client, since, BINANCE_PAGE)
        rates: dict[str, list[SettledRate]] = {}
        for symbol in sorted({str(e.get("symbol")) for e in entries}):
            window = since - timedelta(minutes=1)
            rows = await self._forward(client, window, BINANCE_RATE_PAGE, symbol)
            rates[symbol] = binance_rates(rows)
        return binance_payments(entries, rates)

    async def _okx(self, client: Any, since: datetime) -> list[FundingPayment]:
        entries: list[Any] = []
        params: dict[str, Any] = {"begin": str(_ms(since))}
        for _ in range(MAX_PAGES):
            page = await self._read(
                "fetch_funding_history",
                functools.partial(client.fetch_funding_history, None, None, OKX_PAGE, params),
            )
            entries += page
            if len(page) < OKX_PAGE:
                break
            oldest = min(int(e["info"]["billId"]) for e in page)
            params = {**params, "after": str(oldest)}  # bills older than this one
        else:
            raise _too_many("okx", "/api/v5/account/bills-archive")
        rates: dict[str, list[SettledRate]] = {}
        for symbol in sorted({str(e.get("symbol")) for e in entries}):
            rates[symbol] = okx_rates(await self._okx_rates(client, symbol, since))
        sizes: Mapping[str, Decimal] = {
            s: Decimal(str(m.get("contractSize") or 1))
            for s, m in (client.markets or {}).items()
            if m.get("swap")
        }
        return okx_payments(entries, rates, sizes)

    async def _okx_rates(self, client: Any, symbol: str, since: datetime) -> list[Any]:
        """The settled rates of `symbol` back to `since` (less the match window), paged back
        from the newest with `after` (records earlier than a funding time)."""
        rows: list[Any] = []
        extra: dict[str, Any] = {}
        floor = _ms(since - MATCH_WINDOW)
        for _ in range(MAX_PAGES):
            page = list(
                await self._read(
                    "fetch_funding_rate_history",
                    functools.partial(
                        client.fetch_funding_rate_history, symbol, None, OKX_PAGE, extra
                    ),
                )
            )
            rows += page
            oldest = min((int(r["timestamp"]) for r in page), default=None)
            if len(page) < OKX_PAGE or oldest is None or oldest <= floor:
                return rows
            extra = {"after": str(oldest)}
        raise _too_many("okx", "/api/v5/public/funding-rate-history")

    async def _bybit(self, client: Any, since: datetime) -> list[FundingPayment]:
        rows: list[Any] = []
        now = self.clock()
        start = max(since, now - BYBIT_RETENTION)
        while start < now:  # one request per 7-day window, more only when a window pages
            end = min(start + BYBIT_WINDOW, now)
            cursor = ""
            for _ in range(MAX_PAGES):
                request = {
                    "accountType": "UNIFIED",
                    "category": "linear",
                    "type": "SETTLEMENT",
                    "startTime": str(_ms(start)),
                    "endTime": str(_ms(end)),
                    "limit": str(BYBIT_PAGE),
                    **({"cursor": cursor} if cursor else {}),
                }
                answer = await self._read(
                    "transaction_log",
                    functools.partial(client.privateGetV5AccountTransactionLog, request),
                )
                result = (answer or {}).get("result") or {}
                rows += result.get("list") or []
                cursor = result.get("nextPageCursor") or ""
                if not cursor or not result.get("list"):
                    break
            else:
                raise _too_many("bybit", "/v5/account/transaction-log")
            start = end
        return bybit_payments(rows, _swap_symbols(client))

    async def _dydx(self, client: Any, since: datetime) -> list[FundingPayment]:
        wallet = getattr(client, "walletAddress", None)
        if not wallet:
            raise FundingHistoryUnavailable("dydx: credential walletAddress is required")
        rows: list[Any] = []
        after = since.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        for page in range(1, MAX_PAGES + 1):
            request = {
                "address": wallet,
                "parentSubaccountNumber": DYDX_PARENT,
                "afterOrAt": after,
                "limit": DYDX_PAGE,
                "page": page,
            }
            answer = await self._read(
                "funding_payments",
                functools.partial(client.indexerGetFundingPaymentsParentSubaccount, request),
            )
            found = (answer or {}).get("fundingPayments") or []
            rows += found
            if len(found) < DYDX_PAGE:
                break
        else:
            raise _too_many("dydx", "/v4/fundingPayments/parentSubaccount")
        return dydx_payments(rows, _swap_symbols(client))
