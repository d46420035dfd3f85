"""Snapshot reading through ccxt: the raw payloads the parsers read, fetched concurrently (the
private reads and the shared market data of the account's known markets together), and the
executor's one-position re-read. Invariant: venue-wide market data is fetched once per venue per
epoch, shared by accounts (only symbols missing from a fresh epoch are added)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from guard.core.domain import ZERO, AccountSnapshot, PositionKey
from guard.gateway.ccxt.funding_history import CcxtFundingHistory
from guard.gateway.ccxt.private_reads import CcxtPrivateReads
from guard.gateway.ccxt.structures import dec, with_top_of_book

log = logging.getLogger("guard.gateway.ccxt")


class CcxtSnapshotReader(CcxtPrivateReads, CcxtFundingHistory):
    """Snapshots of the session's accounts: raw payloads fetched, then parsed."""

    async def raw_snapshot(self, account: str) -> dict[str, Any]:
        """The raw snapshot-file dict of `account` (what `guard snapshot` saves)."""
        client = await self._ready(account)
        # the shared market data of the account's markets at its last snapshot is read alongside
        # its private reads: one round trip, not two (a market new since is added after them;
        # sizes come from this read of the venue's private endpoints, never from the cache)
        expected = set(self._specs.get(account, {})) | set(self.accounts[account].watch_symbols)
        early = asyncio.ensure_future(self._market_data(sorted(expected))) if expected else None
        try:
            positions, balance, account_info = await self._private(account, client)
        except BaseException:
            if early is not None:
                early.cancel()
                with contextlib.suppress(BaseException):
                    await early
            raise
        if early is not None:
            await early
        positions = [p for p in positions if (dec(p.get("contracts")) or ZERO) != ZERO]
        if self.venue == "dydx":
            # merged, not replaced: an order is still found after its position closed
            self._subaccounts.setdefault(account, {}).update(
                {
                    p["symbol"]: int((p.get("info") or {}).get("subaccountNumber") or 0)
                    for p in positions
                }
            )
        symbols = sorted(
            {p["symbol"] for p in positions} | set(self.accounts[account].watch_symbols)
        )
        shared = await self._market_data(symbols)
        markets: dict[str, Any] = {}
        for symbol in symbols:
            market = shared["markets"].get(symbol) or self.public.markets.get(symbol)
            if market is not None:
                markets[symbol] = self._with_margin_table(market)
        found = await asyncio.gather(*(self._tiers(client, symbol) for symbol in markets))
        tiers = {s: t for s, t in zip(markets, found, strict=True) if t is not None}
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
        sends = self._sends.get(account, 0)  # counted before the reads: a send during them counts
        raw = await self.raw_snapshot(account)
        snapshot = self._snapshot_of(account, taken_at, raw)
        self._last_raw[account] = (taken_at, raw)
        self._fresh[account] = (taken_at, sends, snapshot)
        fills = self._own_fills.get(account)
        if fills:  # only sends counted after this snapshot's reads began can still apply
            self._own_fills[account] = {n: f for n, f in fills.items() if n > sends}
        return snapshot

    def _fresh_snapshot(self, account: str, now: datetime) -> AccountSnapshot | None:
        """The account's last full snapshot when it can stand for a re-read at `now`: its reads
        began at most `reread_fresh` ago and no order or cancel was handed to the venue for the
        account since they began, or (Hyperliquid) every one since was an order whose answer
        stated its fill: the snapshot less those fills (`_less_own_fills`). Else None (a later
        slice of the same tick re-reads)."""
        fresh = self._fresh.get(account)
        if fresh is None:
            return None
        age = now - fresh[0]
        if not timedelta(0) <= age <= self.settings.reread_fresh:
            return None
        sent = self._sends.get(account, 0)
        if fresh[1] == sent:
            return fresh[2]
        return self._less_own_fills(account, fresh[2], range(fresh[1] + 1, sent + 1))

    def _less_own_fills(
        self, account: str, snapshot: AccountSnapshot, sends: range
    ) -> AccountSnapshot | None:
        """`snapshot` with each position reduced by what the venue's order answers of `sends`
        say filled (its venue liquidation price and maintenance dropped: unknown after the fill);
        None unless every send has such an answer and reduced a position the snapshot holds.
        A send answered while the snapshot was being read may already show in it: subtracted
        again, the position is read smaller, never larger, than the venue's."""
        fills = self._own_fills.get(account, {})
        if any(n not in fills for n in sends):
            return None
        cut: dict[PositionKey, Decimal] = {}
        for n in sends:
            key, size = fills[n]
            cut[key] = cut.get(key, ZERO) + size
        positions = []
        for position in snapshot.positions:
            less = cut.pop(position.key, ZERO)
            if less == ZERO:
                positions.append(position)
            elif position.quantity > less:
                positions.append(
                    replace(
                        position,
                        quantity=position.quantity - less,
                        venue_liquidation_price=None,
                        venue_maintenance_margin=None,
                    )
                )
        return None if cut else replace(snapshot, positions=tuple(positions))

    def _snapshot_of(
        self, account: str, taken_at: datetime, raw: dict[str, Any]
    ) -> AccountSnapshot:
        parsed = self._parse(self.venue, account, taken_at, raw)
        for note in getattr(parsed, "notes", ()):
            log.info("%s %s snapshot: %s", self.venue, account, note)
        snapshot: AccountSnapshot = with_top_of_book(
            parsed.snapshot, raw.get("order_books", {}), raw.get("markets", {})
        )
        self._specs[account] = dict(snapshot.markets)
        self._marks[account] = {s: d.mark_price for s, d in snapshot.market_data.items()}
        return snapshot

    async def fetch_position(self, account: str, symbol: str) -> AccountSnapshot:
        """The account's snapshot with `symbol`'s positions re-read now, for the executor before
        a send. No call when the last full snapshot is fresh (`_fresh_snapshot`: taken within
        `reread_fresh`, nothing sent for the account since, or on Hyperliquid only orders whose
        answers stated their fills, subtracted): it is returned stamped with its own time, so
        the gate checks its age. Otherwise ONE private call, the venue's
        one-symbol position endpoint (Binance positionRisk `symbol`, Bybit position/list
        `symbol`, OKX positions `instId`); Hyperliquid's clearinghouseState and dYdX's address
        read are already one call for the whole account, so they take a full snapshot. The
        balance and other positions are those of the last full snapshot (at most
        `reread_base_max_age` old, else a full snapshot is taken); the result is parsed and
        checked as a whole, stamped with the re-read's time."""
        now = self.clock()
        fresh = self._fresh_snapshot(account, now)
        if fresh is not None:
            return fresh
        last = self._last_raw.get(account)
        if (
            self.venue not in ("binance", "bybit", "okx")
            or last is None
            or now - last[0] > self.settings.reread_base_max_age
        ):
            return await self.fetch_snapshot(account)
        client = await self._ready(account)
        rows = await self._positions(client, symbol)
        own = [
            p
            for p in rows
            if p.get("symbol") == symbol and (dec(p.get("contracts")) or ZERO) != ZERO
        ]
        raw = dict(last[1])
        raw["positions"] = [p for p in raw["positions"] if p.get("symbol") != symbol] + own
        if self.venue == "binance":
            # the account endpoint was read with the last snapshot: its rows for `symbol` take
            # the re-read amounts, so its cross-check compares payloads of one moment
            market_id = str(client.market(symbol)["id"])
            raw.update(binance_account_with(raw, market_id, own))
        symbols = sorted({p["symbol"] for p in raw["positions"]} | set(raw["markets"]))
        shared = await self._market_data(symbols)
        for key in ("funding_rates", "order_books"):
            raw[key] = {s: shared[key][s] for s in symbols if s in shared[key]}
        return self._snapshot_of(account, now, raw)

    async def _market_data(self, symbols: Sequence[str]) -> dict[str, Any]:
        """Funding, books (and dYdX markets) for `symbols` from the venue's shared epoch: a
        fresh epoch missing some symbols fetches only those; a stale one re-reads all it holds."""
        cache = self.market_data
        async with cache.lock:
            now = self.clock()
            if cache.fresh(now, symbols):
                return self._shared(cache)
            current = cache.fetched_at is not None and now - cache.fetched_at < cache.ttl
            if current:
                wanted = sorted(set(symbols) - set(cache.order_books))
            else:
                wanted = sorted(set(symbols) | set(cache.order_books))
            funding, books, markets = await self._fetch_market_data(wanted)
            if current:
                cache.funding_rates = {**cache.funding_rates, **funding}
                cache.order_books = {**cache.order_books, **books}
                cache.markets = {**cache.markets, **markets}
            else:
                cache.funding_rates, cache.order_books, cache.markets = funding, books, markets
                cache.fetched_at = now
            cache.fetches += 1
            return self._shared(cache)

    @staticmethod
    def _shared(cache: Any) -> dict[str, Any]:
        return {
            "funding_rates": cache.funding_rates,
            "order_books": cache.order_books,
            "markets": cache.markets,
        }

    async def _fetch_market_data(
        self, wanted: list[str]
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """One epoch's public reads for `wanted`, run concurrently."""
        public = self.public
        markets: dict[str, Any] = {}
        funding: dict[str, Any] = {}

        async def prices() -> None:
            nonlocal markets, funding
            if self.venue == "dydx":
                # the indexer's perpetualMarkets carry oracle price and next funding rate
                fresh = await self._read("fetch_markets", lambda: public.fetch_markets())
                markets = {m["symbol"]: m for m in fresh}
            elif self.venue == "okx":
                rates = await asyncio.gather(
                    *(
                        self._read(
                            "fetch_funding_rate", functools.partial(public.fetch_funding_rate, s)
                        )
                        for s in wanted
                    )
                )
                funding = dict(zip(wanted, rates, strict=True))
            elif wanted:
                found = await self._read(
                    "fetch_funding_rates", lambda: public.fetch_funding_rates(wanted)
                )
                funding = {s: r for s, r in found.items() if s in wanted}

        depth = self.settings.book_depth_levels
        _, *read = await asyncio.gather(
            prices(),
            *(
                self._read("fetch_order_book", functools.partial(public.fetch_order_book, s, depth))
                for s in wanted
            ),
        )
        return funding, dict(zip(wanted, read, strict=True)), markets

    async def _tiers(self, client: Any, symbol: str) -> list[Any] | None:
        """Tier tables, re-read once per `markets_max_age`: Bybit risk limits and OKX position
        tiers are public (one fetch per venue and symbol, shared by every account); Binance
        brackets are per account (`/fapi/v1/leverageBracket` is signed)."""
        if self.venue not in ("binance", "bybit", "okx"):
            return None  # hyperliquid: margin tables in meta; dydx: IMF/MMF in the market info
        owner = client if self.venue == "binance" else self.public
        key = (id(owner), symbol)
        now = self.clock()
        cached = self._tier_tables.get(key)
        if cached is not None and now - cached[0] < self.settings.markets_max_age:
            return cached[1]
        found: list[Any] | None
        if self.venue == "binance":
            tiers = await self._read(
                "fetch_leverage_tiers", lambda: owner.fetch_leverage_tiers([symbol])
            )
            found = tiers.get(symbol)
        else:
            found = list(
                await self._read(
                    "fetch_market_leverage_tiers",
                    lambda: owner.fetch_market_leverage_tiers(symbol),
                )
            )
        self._tier_tables[key] = (now, found)
        return found

    def _with_margin_table(self, market: Any) -> Any:
        """A Hyperliquid market with its `meta` margin table rows as info.marginTiers."""
        info = market.get("info") or {}
        table_id = info.get("marginTableId")
        rows = self._margin_tables.get(int(table_id)) if table_id is not None else None
        if self.venue != "hyperliquid" or not rows:
            return market
        return {**market, "info": {**info, "marginTiers": rows}}


def binance_account_with(raw: dict[str, Any], market_id: str, rows: list[Any]) -> dict[str, Any]:
    """Copies of a Binance snapshot's `balance` (its `info`) and `account_info`, the
    `/fapi/v2/account` payload, whose `positions[]` rows for `market_id` carry the positionAmt of
    the re-read positionRisk `rows` (0 for a side no longer open). Nothing else changes."""
    fresh = {
        str((row.get("info") or {}).get("positionSide") or "BOTH").upper(): (
            row.get("info") or {}
        ).get("positionAmt", "0")
        for row in rows
    }

    def patched(account: Any) -> Any:
        if not isinstance(account, dict) or not isinstance(account.get("positions"), list):
            return account
        positions = [
            {**row, "positionAmt": fresh.get(str(row.get("positionSide") or "BOTH").upper(), "0")}
            if isinstance(row, dict) and row.get("symbol") == market_id
            else row
            for row in account["positions"]
        ]
        return {**account, "positions": positions}

    out: dict[str, Any] = {"account_info": patched(raw.get("account_info"))}
    balance = raw.get("balance")
    if isinstance(balance, dict):
        out["balance"] = {**balance, "info": patched(balance.get("info"))}
    return out
