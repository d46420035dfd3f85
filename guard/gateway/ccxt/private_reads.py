"""The private (per-account) reads of a snapshot, per venue, run concurrently. Invariant: what
rarely changes (the account mode) is re-read within `account_mode_ttl` (a stable per-account share
of it) or at once when a position opens; everything else is read every tick."""

from __future__ import annotations

import asyncio
import functools
import zlib
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from guard.core.domain import ZERO
from guard.gateway.base import PermanentError, UnsupportedAccountMode
from guard.gateway.ccxt.clients import GatewaySettings
from guard.gateway.ccxt.session import CcxtSession
from guard.gateway.ccxt.structures import dec

# the venue-native payload stating the account mode, read through the account's client
_MODE_CALLS: dict[str, tuple[str, Callable[[Any], Awaitable[Any]]]] = {
    # Bybit marginMode (REGULAR/ISOLATED/PORTFOLIO_MARGIN), unifiedMarginStatus
    "bybit": ("account_info", lambda client: client.privateGetV5AccountInfo()),
    # OKX acctLv, posMode
    "okx": ("account_config", lambda client: client.privateGetAccountConfig()),
}


def open_keys(positions: list[Any]) -> frozenset[tuple[str, str]]:
    """(symbol, side) of every ccxt position with a size: a change triggers a mode re-read."""
    return frozenset(
        (str(p.get("symbol")), str(p.get("side")))
        for p in positions
        if (dec(p.get("contracts")) or ZERO) != ZERO
    )


def mode_age(account: str, settings: GatewaySettings) -> timedelta:
    """How long `account`'s mode payload is trusted: a stable fraction between half and all of
    `account_mode_ttl` (crc32 of its name), so accounts read together re-read on different ticks
    instead of all at once."""
    fraction = zlib.crc32(account.encode()) / 2**32
    return settings.account_mode_ttl * (1 - fraction / 2)


SETTLE_COINS: tuple[str, ...] = (
    "USDT",
    "USDC",
)  # Bybit linear perps read, one position/list call per coin


class CcxtPrivateReads(CcxtSession):
    """Positions, balance and the account-mode payload of one account (one tick's private calls)."""

    async def _private(self, account: str, client: Any) -> tuple[list[Any], Any, Any]:
        """Positions, balance and the raw account payload that states the account mode."""
        if self.venue == "dydx":
            return await self._dydx_private(client)
        if self.venue == "hyperliquid":
            return await self._hyperliquid_private(account, client)
        if self.venue == "binance":
            # ONE `/fapi/v2/account` read is both the balance and the mode (multiAssetsMargin)
            positions, balance = await asyncio.gather(
                self._read("fetch_positions", lambda: client.fetch_positions()),
                self._read("fetch_balance", lambda: client.fetch_balance()),
            )
            return list(positions), balance, balance.get("info")
        cached = self._mode_cache(account)
        coins = SETTLE_COINS
        if cached is None and self.venue == "bybit":
            coins = self._held_coins(account)
        reads: list[Awaitable[Any]] = [
            self._positions(client, None, coins),
            self._read("fetch_balance", lambda: client.fetch_balance()),
        ]
        if cached is None:
            reads.append(self._mode(client))
        read_at = self.clock()
        found = await asyncio.gather(*reads)
        positions, balance = found[0], found[1]
        keys = open_keys(positions)
        if cached is None:
            info = found[2]
        elif not keys <= cached[0]:  # a position opened: the mode is read again at once
            info = await self._mode(client)
        else:
            self._keep_mode(account, keys)
            return positions, balance, cached[1]
        self._modes[account] = (read_at, {"keys": keys, "info": info})
        return positions, balance, info

    def _mode_cache(self, account: str) -> tuple[frozenset[tuple[str, str]], Any] | None:
        """(open position keys, mode payload) read less than the account's mode age ago."""
        cached = self._modes.get(account)
        if cached is None or self.clock() - cached[0] >= mode_age(account, self.settings):
            return None
        return cached[1]["keys"], cached[1]["info"]

    def _keep_mode(self, account: str, keys: frozenset[tuple[str, str]]) -> None:
        """The cached mode still applies (no position opened): its keys become `keys`, so a
        position closed now and opened again later triggers a read; its age is kept."""
        read_at, cached = self._modes[account]
        if cached["keys"] != keys:
            self._modes[account] = (read_at, {**cached, "keys": keys})

    def _held_coins(self, account: str) -> tuple[str, ...]:
        """Bybit, on the tick its account mode is re-read: only the settle coin(s) its positions
        were in at the last read (USDT when flat), so that tick stays at three private calls; a
        position opened in the other coin since shows one tick later, and being new, triggers a
        mode read then. Both coins on the first read."""
        last = self._modes.get(account)
        if last is None:
            return SETTLE_COINS
        held = {symbol.rpartition(":")[2] for symbol, _ in last[1]["keys"]}
        return tuple(c for c in SETTLE_COINS if c in held) or SETTLE_COINS[:1]

    async def _mode(self, client: Any) -> Any:
        what, call = _MODE_CALLS[self.venue]
        return await self._read(what, functools.partial(call, client))

    async def _positions(
        self, client: Any, symbol: str | None, coins: tuple[str, ...] = SETTLE_COINS
    ) -> list[Any]:
        """The account's positions (only `symbol`'s, with the venue's one-symbol filter, when
        given): Bybit linear perps of the settle `coins` (ccxt defaults to USDT); OKX swaps only
        (other instruments are ignored explicitly); Binance positionRisk."""
        if self.venue == "bybit":
            if symbol is not None:
                return list(
                    await self._read(
                        "fetch_positions", functools.partial(client.fetch_positions, [symbol])
                    )
                )
            lists = await asyncio.gather(
                *(
                    self._read(
                        "fetch_positions",
                        functools.partial(client.fetch_positions, None, {"settleCoin": coin}),
                    )
                    for coin in coins
                )
            )
            return [p for found in lists for p in found]
        if self.venue == "okx":
            symbols = [symbol] if symbol is not None else None
            return list(
                await self._read(
                    "fetch_positions",
                    functools.partial(client.fetch_positions, symbols, {"instType": "SWAP"}),
                )
            )
        params = {"symbol": client.market(symbol)["id"]} if symbol is not None else {}
        return list(
            await self._read(
                "fetch_positions", functools.partial(client.fetch_positions, None, params)
            )
        )

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
        account abstraction and the HIP-3 DEX states are re-read every `account_mode_ttl`, or
        at once when the open positions changed."""
        user = self._wallet(client)
        state = await self._read(
            "clearinghouse_state",
            lambda: client.publicPostInfo({"type": "clearinghouseState", "user": user}),
        )
        positions = [client.parse_position(row) for row in state.get("assetPositions") or []]
        keys = open_keys(positions)
        cached = self._mode_cache(account)
        if cached is not None and keys <= cached[0]:  # no position opened: the modes still apply
            modes = cached[1]
            self._keep_mode(account, keys)
        else:
            modes = await self._hyperliquid_modes(client, user)
            self._modes[account] = (self.clock(), {"keys": keys, "info": modes})
        return positions, {"info": state}, {"clearinghouseState": state, **modes}

    async def _hyperliquid_modes(self, client: Any, user: str) -> dict[str, Any]:
        abstraction, dexes = await asyncio.gather(
            self._read(
                "user_abstraction",
                lambda: client.publicPostInfo({"type": "userAbstraction", "user": user}),
            ),
            self._hip3_dexes(),
        )
        found = await asyncio.gather(
            *(
                self._read(
                    "clearinghouse_state",
                    functools.partial(
                        client.publicPostInfo,
                        {"type": "clearinghouseState", "user": user, "dex": dex},
                    ),
                )
                for dex in dexes
            )
        )
        return {
            "userAbstraction": str(abstraction).strip('"') if abstraction is not None else None,
            "dexStates": dict(zip(dexes, found, strict=True)),
        }

    async def _hip3_dexes(self) -> list[str]:
        """Names of the builder-deployed perp DEXes (`perpDexs`, public, once per markets age)."""
        now = self.clock()
        if self._dexes is not None and now - self._dexes[0] < self.settings.markets_max_age:
            return self._dexes[1]
        listed, meta = await asyncio.gather(
            self._read("perp_dexs", lambda: self.public.publicPostInfo({"type": "perpDexs"})),
            self._read("meta", lambda: self.public.publicPostInfo({"type": "meta"})),
        )
        names = [str(d["name"]) for d in listed or [] if isinstance(d, dict) and d.get("name")]
        self._margin_tables = {
            int(entry[0]): list(entry[1].get("marginTiers") or [])
            for entry in (meta or {}).get("marginTables") or []
        }
        self._dexes = (now, names)
        return names

    def _wallet(self, client: Any) -> str:
        wallet = getattr(client, "walletAddress", None)
        if not wallet:
            raise PermanentError(f"{self.venue}: credential walletAddress is required")
        return str(wallet)
