"""The per-venue ccxt session under CcxtGateway: clients, markets loaded once, the market-data
cache, a priority gate (protective first); reads retried with jittered backoff, writes sent once."""

from __future__ import annotations

import asyncio
import heapq
import importlib
import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from guard.core.domain import MarketSpec
from guard.core.venues.ccxt_options import CcxtVenue, ccxt_venue
from guard.gateway.base import PermanentError, TemporaryError
from guard.gateway.ccxt.clients import SECRETS, AccountConfig, GatewaySettings, make_client
from guard.gateway.ccxt.errors import translate

log = logging.getLogger("guard.gateway.ccxt")
T = TypeVar("T")

PRIORITY_PROTECTIVE = 0  # reduce-only orders, cancels, and the lookups that resolve them
PRIORITY_ROUTINE = 1  # snapshots and market data


# --------------------------------------------------------------------------------------------
# rate budget with priorities


class PriorityGate:
    """At most `capacity` requests in flight; waiting protective work goes before routine work."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self._free = capacity
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    @asynccontextmanager
    async def slot(self, priority: int) -> AsyncIterator[None]:
        await self._acquire(priority)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, priority: int) -> None:
        if self._free > 0 and not self._waiting:
            self._free -= 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (priority, next(self._order), future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._release()  # the slot was handed over just as we were cancelled
            raise

    def _release(self) -> None:
        while self._waiting:
            _, _, future = heapq.heappop(self._waiting)
            if not future.done():
                future.set_result(None)
                return
        self._free += 1


# --------------------------------------------------------------------------------------------
# shared market data


@dataclass(slots=True)
class MarketDataCache:
    """Venue-wide market data (funding, mark/index, top of book) kept for one epoch.

    Every account on the venue reads from the same cache; a lock makes concurrent snapshots of
    one epoch share a single fetch.
    """

    ttl: timedelta
    fetched_at: datetime | None = None
    funding_rates: dict[str, Any] = field(default_factory=dict)
    order_books: dict[str, Any] = field(default_factory=dict)
    markets: dict[str, Any] = field(default_factory=dict)  # venues that carry prices in markets
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    fetches: int = 0

    def fresh(self, now: datetime, symbols: Sequence[str]) -> bool:
        return (
            self.fetched_at is not None
            and now - self.fetched_at < self.ttl
            and all(symbol in self.order_books for symbol in symbols)
        )


Parse = Callable[[str, str, datetime, dict[str, Any]], Any]


def _default_parse(venue: str, account: str, taken_at: datetime, raw: dict[str, Any]) -> Any:
    parsers = importlib.import_module("guard.gateway.parsers")  # helper module, bound late
    return parsers.parse_snapshot(venue, account, taken_at, raw)


class CcxtSession:
    """The transport of a CcxtGateway: clients, markets, the gate, and translated calls."""

    def __init__(
        self,
        venue: str,
        accounts: Sequence[AccountConfig],
        *,
        settings: GatewaySettings | None = None,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] | None = None,
        parse: Parse | None = None,
        client_factory: Callable[[CcxtVenue, Mapping[str, str] | None], Any] | None = None,
    ) -> None:
        self.venue = venue
        self.spec = ccxt_venue(venue)
        self.settings = settings or GatewaySettings()
        self.clock = clock or (lambda: datetime.now(UTC))
        self._parse = parse or _default_parse
        self._environ = environ
        self._factory = client_factory or (lambda v, s: make_client(v, s, self.settings))
        self.accounts: dict[str, AccountConfig] = {}
        for account in accounts:
            if account.venue != venue:
                raise ValueError(f"account {account.name} is on {account.venue}, not {venue}")
            self.accounts[account.name] = account
        self._clients: dict[str, Any] = {}
        self._secrets: dict[str, list[str]] = {}
        self._public: Any = None
        self._markets_loaded_at: datetime | None = None
        self._markets_lock = asyncio.Lock()
        self._client_markets: dict[str, datetime] = {}
        self.gate = PriorityGate(self.settings.max_concurrent)
        self.market_data = MarketDataCache(self.settings.market_data_ttl)
        self._specs: dict[str, dict[str, MarketSpec]] = {}
        self._marks: dict[str, dict[str, Decimal]] = {}
        self.write_calls = 0

    # ---------------------------------------------------------------- clients and markets

    def client(self, account: str) -> Any:
        if account not in self.accounts:
            raise PermanentError(f"{self.venue}: unknown account {account!r}")
        if account not in self._clients:
            secrets = self.accounts[account].credentials.resolve(self._environ)
            # the wallet address is public; every other credential value is redacted from errors
            self._secrets[account] = [v for k, v in secrets.items() if k != "walletAddress"]
            SECRETS.update(self._secrets[account])
            self._clients[account] = self._factory(self.spec, secrets)
        return self._clients[account]

    @property
    def public(self) -> Any:
        if self._public is None:
            self._public = self._factory(self.spec, None)
        return self._public

    def secrets(self) -> list[str]:
        return [s for values in self._secrets.values() for s in values]

    async def markets(self) -> dict[str, Any]:
        """The venue's markets, loaded once and reloaded after `markets_max_age`."""
        async with self._markets_lock:
            now = self.clock()
            stale = (
                self._markets_loaded_at is None
                or now - self._markets_loaded_at >= self.settings.markets_max_age
            )
            if stale:
                reload = self._markets_loaded_at is not None
                await self._read("load_markets", lambda: self.public.load_markets(reload))
                self._markets_loaded_at = now
            return dict(self.public.markets)

    async def _ready(self, account: str) -> Any:
        """The account's client with the shared markets installed (no second load per account)."""
        client = self.client(account)  # credentials first: a missing one fails before any call
        await self.markets()
        loaded = self._markets_loaded_at
        if loaded is not None and self._client_markets.get(account) != loaded:
            client.set_markets(self.public.markets, self.public.currencies)
            self._client_markets[account] = loaded
        return client

    # ---------------------------------------------------------------- calls

    async def _read(
        self,
        what: str,
        call: Callable[[], Awaitable[T]],
        *,
        priority: int = PRIORITY_ROUTINE,
    ) -> T:
        """A read with translated errors, retried on TemporaryError (jittered, bounded)."""
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(TemporaryError),
            stop=stop_after_attempt(self.settings.read_attempts),
            wait=wait_random_exponential(
                multiplier=self.settings.backoff_base, max=self.settings.backoff_max
            ),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                async with self.gate.slot(priority):
                    try:
                        return await call()
                    except Exception as error:
                        translated = translate(
                            error, self.venue, what, write=False, secrets=self.secrets()
                        )
                        if isinstance(translated, TemporaryError):
                            log.warning(
                                "%s (attempt %d)", translated, attempt.retry_state.attempt_number
                            )
                        raise translated from error
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    async def _write(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """A write: sent once, never retried; errors translated with write semantics."""
        async with self.gate.slot(PRIORITY_PROTECTIVE):
            self.write_calls += 1
            try:
                return await call()
            except Exception as error:
                raise translate(
                    error, self.venue, what, write=True, secrets=self.secrets()
                ) from error

    async def close(self) -> None:
        clients = list(self._clients.values())
        if self._public is not None:
            clients.append(self._public)
        for client in clients:
            await client.close()
        self._clients.clear()
        self._public = None
