"""Snapshot reading through ccxt: the per-venue fetch calls gathering the raw payloads the parsers
read. Invariant: venue-wide market data is fetched once per venue per epoch, shared by accounts."""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from guard.core.domain import ZERO, AccountSnapshot
from guard.core.funding_ledger import FundingPayment
from guard.gateway.base import FundingHistoryUnavailable, PermanentError
from guard.gateway.ccxt.session import CcxtSession
from guard.gateway.ccxt.structures import dec, with_top_of_book
from guard.gateway.parsers.funding_history import READABLE, hyperliquid_payments

log = logging.getLogger("guard.gateway.ccxt")


class CcxtSnapshotReader(CcxtSession):
    """Snapshots of the session's accounts: raw payloads fetched, then parsed."""

    async def raw_snapshot(self, account: str) -> dict[str, Any]:
        """The raw snapshot-file dict of `account` (what `guard snapshot` saves)."""
        client = await self._ready(account)
        positions = await self._read("fetch_positions", lambda: client.fetch_positions())
        positions = [p for p in positions if (dec(p.get("contracts")) or ZERO) != ZERO]
        balance = await self._read("fetch_balance", lambda: client.fetch_balance())
        account_info = await self._account_info(account, client)
        symbols = sorted(
            {p["symbol"] for p in positions} | set(self.accounts[account].watch_symbols)
        )
        shared = await self._market_data(symbols)
        markets: dict[str, Any] = {}
        tiers: dict[str, Any] = {}
        for symbol in symbols:
            market = shared["markets"].get(symbol) or self.public.markets.get(symbol)
            if market is None:
                continue
            markets[symbol] = market
            found = await self._tiers(client, symbol)
            if found is not None:
                tiers[symbol] = found
        return {
            "venue": self.venue,
            "account": account,
            "positions": positions,
            "balance": balance,
            "markets": markets,
            "funding_rates": {
                s: shared["funding_rates"][s] for s in symbols if s in shared["funding_rates"]
            },
            "order_books": {
                s: shared["order_books"][s] for s in symbols if s in shared["order_books"]
            },
            "leverage_tiers": tiers,
            "account_info": account_info,
        }

    async def fetch_snapshot(self, account: str) -> AccountSnapshot:
        taken_at = self.clock()
        raw = await self.raw_snapshot(account)
        parsed = self._parse(self.venue, account, taken_at, raw)
        for note in getattr(parsed, "notes", ()):
            log.info("%s %s snapshot: %s", self.venue, account, note)
        snapshot: AccountSnapshot = with_top_of_book(
            parsed.snapshot, raw.get("order_books", {}), raw.get("markets", {})
        )
        self._specs[account] = dict(snapshot.markets)
        self._marks[account] = {s: d.mark_price for s, d in snapshot.market_data.items()}
        return snapshot

    async def fetch_funding_history(self, account: str, since: datetime) -> list[FundingPayment]:
        """The account's own funding payments since `since` (Hyperliquid only, so far)."""
        if self.venue not in READABLE:
            raise FundingHistoryUnavailable(
                f"{self.venue}: the account's funding history is not read yet (its unified "
                "payload names no position side and signs amounts per venue)"
            )
        client = await self._ready(account)
        since_ms = int(since.timestamp() * 1000)
        entries = await self._read(
            "fetch_funding_history", lambda: client.fetch_funding_history(None, since_ms)
        )
        return hyperliquid_payments(entries)

    async def _market_data(self, symbols: Sequence[str]) -> dict[str, Any]:
        cache = self.market_data
        async with cache.lock:
            now = self.clock()
            if cache.fresh(now, symbols):
                return {
                    "funding_rates": cache.funding_rates,
                    "order_books": cache.order_books,
                    "markets": cache.markets,
                }
            public = self.public
            wanted = sorted(set(symbols) | set(cache.order_books))
            funding: dict[str, Any] = {}
            markets: dict[str, Any] = {}
            if self.venue == "dydx":
                # the indexer's perpetualMarkets carry oracle price and next funding rate
                fresh = await self._read("fetch_markets", lambda: public.fetch_markets())
                markets = {m["symbol"]: m for m in fresh}
            elif self.venue == "okx":
                for symbol in wanted:
                    funding[symbol] = await self._read(
                        "fetch_funding_rate", functools.partial(public.fetch_funding_rate, symbol)
                    )
            elif wanted:
                rates = await self._read(
                    "fetch_funding_rates", lambda: public.fetch_funding_rates(wanted)
                )
                funding = {s: r for s, r in rates.items() if s in wanted}
            books: dict[str, Any] = {}
            for symbol in wanted:
                books[symbol] = await self._read(
                    "fetch_order_book",
                    functools.partial(
                        public.fetch_order_book, symbol, self.settings.book_depth_levels
                    ),
                )
            cache.funding_rates, cache.order_books, cache.markets = funding, books, markets
            cache.fetched_at = now
            cache.fetches += 1
            return {"funding_rates": funding, "order_books": books, "markets": markets}

    async def _tiers(self, client: Any, symbol: str) -> list[Any] | None:
        if self.venue == "binance":
            tiers = await self._read(
                "fetch_leverage_tiers", lambda: client.fetch_leverage_tiers([symbol])
            )
            found: list[Any] | None = tiers.get(symbol)
            return found
        if self.venue in ("bybit", "okx"):
            return list(
                await self._read(
                    "fetch_market_leverage_tiers",
                    lambda: client.fetch_market_leverage_tiers(symbol),
                )
            )
        return None  # hyperliquid: margin tables in meta; dydx: IMF/MMF in the market info

    async def _account_info(self, account: str, client: Any) -> Any:
        """The raw account payload the margin code needs (venue-native, unparsed)."""
        if self.venue == "binance":
            return await self._read("account", lambda: client.fapiPrivateV2GetAccount())
        if self.venue == "bybit":
            return await self._read(
                "wallet_balance",
                lambda: client.privateGetV5AccountWalletBalance({"accountType": "UNIFIED"}),
            )
        if self.venue == "okx":
            return await self._read("account_config", lambda: client.privateGetAccountConfig())
        if self.venue == "hyperliquid":
            user = self._wallet(client)
            return await self._read(
                "clearinghouse_state",
                lambda: client.publicPostInfo({"type": "clearinghouseState", "user": user}),
            )
        if self.venue == "dydx":
            user = self._wallet(client)
            return await self._read(
                "subaccount",
                lambda: client.indexerGetAddressesAddressSubaccountNumberSubaccountNumber(
                    {"address": user, "subaccountNumber": 0}
                ),
            )
        return None

    def _wallet(self, client: Any) -> str:
        wallet = getattr(client, "walletAddress", None)
        if not wallet:
            raise PermanentError(f"{self.venue}: credential walletAddress is required")
        return str(wallet)
