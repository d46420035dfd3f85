"""Snapshot reading through ccxt: the per-venue fetch calls gathering the raw payloads the parsers
read. Invariant: venue-wide market data is fetched once per venue per epoch, shared by accounts."""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from typing import Any

from guard.core.domain import ZERO, AccountSnapshot
from guard.gateway.base import PermanentError, UnsupportedAccountMode
from guard.gateway.ccxt.funding_history import CcxtFundingHistory
from guard.gateway.ccxt.structures import dec, with_top_of_book

log = logging.getLogger("guard.gateway.ccxt")


class CcxtSnapshotReader(CcxtFundingHistory):
    """Snapshots of the session's accounts: raw payloads fetched, then parsed."""

    async def raw_snapshot(self, account: str) -> dict[str, Any]:
        """The raw snapshot-file dict of `account` (what `guard snapshot` saves)."""
        client = await self._ready(account)
        positions, balance, account_info = await self._private(account, client)
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
        tiers: dict[str, Any] = {}
        for symbol in symbols:
            market = shared["markets"].get(symbol) or self.public.markets.get(symbol)
            if market is None:
                continue
            markets[symbol] = self._with_margin_table(market)
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

    async def _private(self, account: str, client: Any) -> tuple[list[Any], Any, Any]:
        """Positions, balance and the raw account payload that states the account mode."""
        if self.venue == "dydx":
            return await self._dydx_private(client)
        if self.venue == "hyperliquid":
            return await self._hyperliquid_private(account, client)
        positions: list[Any] = []
        if self.venue == "bybit":  # linear perps of both settle coins (ccxt defaults to USDT)
            for coin in ("USDT", "USDC"):
                positions += await self._read(
                    "fetch_positions",
                    functools.partial(client.fetch_positions, None, {"settleCoin": coin}),
                )
        elif self.venue == "okx":  # swaps only: other instruments are ignored explicitly
            positions = await self._read(
                "fetch_positions",
                functools.partial(client.fetch_positions, None, {"instType": "SWAP"}),
            )
        else:
            positions = await self._read("fetch_positions", lambda: client.fetch_positions())
        balance = await self._read("fetch_balance", lambda: client.fetch_balance())
        return list(positions), balance, await self._account_info(client)

    async def _account_info(self, client: Any) -> Any:
        """The raw payload stating the account mode (venue-native, unparsed)."""
        if self.venue == "binance":  # multiAssetsMargin, wallets, per-position margins
            return await self._read("account", lambda: client.fapiPrivateV2GetAccount())
        if self.venue == "bybit":  # marginMode (REGULAR/ISOLATED/PORTFOLIO_MARGIN)
            return await self._read("account_info", lambda: client.privateGetV5AccountInfo())
        if self.venue == "okx":  # acctLv, posMode
            return await self._read("account_config", lambda: client.privateGetAccountConfig())
        return None

    async def _dydx_private(self, client: Any) -> tuple[list[Any], Any, Any]:
        """ONE indexer call, `/v4/addresses/{address}`: every subaccount (0..127 parents and the
        children >= 128 holding isolated positions) with its equity and open positions."""
        user = self._wallet(client)
        address = await self._read(
            "subaccounts", lambda: client.indexerGetAddressesAddress({"address": user})
        )
        positions = []
        held: dict[str, Any] = {}
        for sub in address.get("subaccounts") or []:
            number = sub.get("subaccountNumber")
            for market, row in (sub.get("openPerpetualPositions") or {}).items():
                if market in held:
                    raise UnsupportedAccountMode(
                        "dydx",
                        f"subaccounts[].openPerpetualPositions[{market!r}]",
                        [held[market], number],
                        "one market held in two subaccounts",
                        "one position per market across subaccount 0 and its children",
                    )
                held[market] = number
                own = {**row, "subaccountNumber": row.get("subaccountNumber", number)}
                positions.append(client.parse_position(own))
        return positions, None, address

    async def _hyperliquid_private(self, account: str, client: Any) -> tuple[list[Any], Any, Any]:
        """ONE clearinghouseState per tick (positions and balance both parse from it); the
        account abstraction and the HIP-3 DEX states are re-read every `account_mode_ttl`."""
        user = self._wallet(client)
        state = await self._read(
            "clearinghouse_state",
            lambda: client.publicPostInfo({"type": "clearinghouseState", "user": user}),
        )
        positions = [client.parse_position(row) for row in state.get("assetPositions") or []]
        modes = await self._hyperliquid_modes(account, client, user)
        return positions, {"info": state}, {"clearinghouseState": state, **modes}

    async def _hyperliquid_modes(self, account: str, client: Any, user: str) -> dict[str, Any]:
        now = self.clock()
        cached = self._modes.get(account)
        if cached is not None and now - cached[0] < self.settings.account_mode_ttl:
            return cached[1]
        abstraction = await self._read(
            "user_abstraction",
            lambda: client.publicPostInfo({"type": "userAbstraction", "user": user}),
        )
        dexes = await self._hip3_dexes()
        states = {}
        for dex in dexes:
            states[dex] = await self._read(
                "clearinghouse_state",
                functools.partial(
                    client.publicPostInfo, {"type": "clearinghouseState", "user": user, "dex": dex}
                ),
            )
        modes = {
            "userAbstraction": str(abstraction).strip('"') if abstraction is not None else None,
            "dexStates": states,
        }
        self._modes[account] = (now, modes)
        return modes

    async def _hip3_dexes(self) -> list[str]:
        """Names of the builder-deployed perp DEXes (`perpDexs`, public, once per markets age)."""
        now = self.clock()
        if self._dexes is not None and now - self._dexes[0] < self.settings.markets_max_age:
            return self._dexes[1]
        listed = await self._read(
            "perp_dexs", lambda: self.public.publicPostInfo({"type": "perpDexs"})
        )
        names = [str(d["name"]) for d in listed or [] if isinstance(d, dict) and d.get("name")]
        meta = await self._read("meta", lambda: self.public.publicPostInfo({"type": "meta"}))
        self._margin_tables = {
            int(entry[0]): list(entry[1].get("marginTiers") or [])
            for entry in (meta or {}).get("marginTables") or []
        }
        self._dexes = (now, names)
        return names

    def _with_margin_table(self, market: Any) -> Any:
        """A Hyperliquid market with its `meta` margin table rows as info.marginTiers."""
        info = market.get("info") or {}
        table_id = info.get("marginTableId")
        rows = self._margin_tables.get(int(table_id)) if table_id is not None else None
        if self.venue != "hyperliquid" or not rows:
            return market
        return {**market, "info": {**info, "marginTiers": rows}}

    def _wallet(self, client: Any) -> str:
        wallet = getattr(client, "walletAddress", None)
        if not wallet:
            raise PermanentError(f"{self.venue}: credential walletAddress is required")
        return str(wallet)
