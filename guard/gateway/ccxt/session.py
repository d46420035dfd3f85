"""The per-venue ccxt session under CcxtGateway: clients, markets loaded once, the market-data
cache, a priority gate (protective first); reads retried with jittered backoff, writes sent once."""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from guard.core.domain import AccountSnapshot, MarketSpec, PositionKey
from guard.core.venues.ccxt_options import CcxtVenue, ccxt_venue
from guard.gateway.base import GatewayError, PermanentError, RateLimited, TemporaryError
from guard.gateway.ccxt.budget import (
    DEFAULT_IN_FLIGHT,
    LIMITS,
    PRIORITY,
    PRIORITY_PROTECTIVE,
    PRIORITY_ROUTINE,
    WeightBudget,
    charge_answers,
    documented_cost,
)
from guard.gateway.ccxt.clients import SECRETS, AccountConfig, GatewaySettings, make_client
from guard.gateway.ccxt.errors import RATE_LIMIT_ERRORS, translate
from guard.gateway.ccxt.http import SharedHttp
from guard.gateway.ccxt.market_data import MarketDataCache
from guard.gateway.ccxt.slots import PriorityGate, protective_reserve

log = logging.getLogger("guard.gateway.ccxt")
T = TypeVar("T")


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
        sleep: Callable[[float], Awaitable[None]] | None = None,
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
        limits = LIMITS.get(venue)
        in_flight = self.settings.max_concurrent
        if in_flight is None:
            in_flight = limits.in_flight if limits is not None else DEFAULT_IN_FLIGHT
        self.in_flight = in_flight
        self.gate = PriorityGate(in_flight, protective_reserve(in_flight))
        # one connection pool for every client of the venue, as many connections as the gate
        # lets requests be in flight (protective reserve included)
        self.http = SharedHttp(
            self.settings.keepalive.total_seconds(), in_flight + protective_reserve(in_flight)
        )
        # the venue's documented weight window replaces ccxt's request spacing (protective first)
        self.budget = (
            WeightBudget(limits) if limits is not None and self.settings.ccxt_rate_limit else None
        )
        self.market_data = MarketDataCache(self.settings.market_data_ttl)
        self._sleep = sleep or asyncio.sleep
        self.cooldown_until: datetime | None = None  # venue-wide, after a 429/418
        # told (venue, until, the error) once per cool-down started: audit, alert (the service)
        self.cooldown_listeners: list[Callable[[str, datetime, RateLimited], None]] = []
        self._reopen: asyncio.Task[None] | None = None
        self._specs: dict[str, dict[str, MarketSpec]] = {}
        self._subaccounts: dict[str, dict[str, int]] = {}  # dydx: account -> symbol -> number
        self._modes: dict[str, tuple[datetime, dict[str, Any]]] = {}  # account -> mode read
        self._last_raw: dict[str, tuple[datetime, dict[str, Any]]] = {}  # the last full snapshot
        # the last full snapshot parsed: (taken at, the account's send count then, the snapshot)
        self._fresh: dict[str, tuple[datetime, int, AccountSnapshot]] = {}
        self._sends: dict[str, int] = {}  # account -> orders and cancels handed to the venue
        # hyperliquid: account -> send number -> (position, size) the order's answer says filled
        self._own_fills: dict[str, dict[int, tuple[PositionKey, Decimal]]] = {}
        self._dexes: tuple[datetime, list[str]] | None = None  # hyperliquid HIP-3 DEX names
        self._margin_tables: dict[int, list[Any]] = {}  # hyperliquid meta marginTables
        self._tier_tables: dict[tuple[int, str], tuple[datetime, list[Any] | None]] = {}
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
            client = self._factory(self.spec, secrets)
            self.http.attach(client)
            self._charge_documented(client)
            shared = getattr(self.public, "throttler", None)
            if shared is not None and hasattr(client, "throttler"):
                client.throttler = shared  # one ccxt weight budget per venue (and egress IP)
            self._clients[account] = client
        return self._clients[account]

    @property
    def public(self) -> Any:
        if self._public is None:
            self._public = self._factory(self.spec, None)
            self.http.attach(self._public)
            if self.budget is not None and hasattr(self._public, "throttler"):
                self._public.throttler = self.budget  # shared by every account's client
                self._charge_documented(self._public)
        return self._public

    def _charge_documented(self, client: Any) -> None:
        if self.budget is not None and hasattr(client, "calculate_rate_limiter_cost"):
            client.calculate_rate_limiter_cost = documented_cost(
                self.budget.limits, client.calculate_rate_limiter_cost
            )
            if self.budget.limits.answer_weight is not None:  # e.g. per items returned
                charge_answers(client, self.budget, self.budget.limits.answer_weight)

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
            retry=retry_if_exception(self._retryable),
            stop=stop_after_attempt(self.settings.read_attempts),
            wait=wait_random_exponential(
                multiplier=self.settings.backoff_base, max=self.settings.backoff_max
            ),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                self._check_cooldown(what)
                # the weight budget serves protective work first (a protective caller's reads
                # stay protective)
                token = PRIORITY.set(min(priority, PRIORITY.get()))
                try:
                    async with self.gate.slot(priority):
                        try:
                            return await call()
                        except Exception as error:
                            translated = self._translate(error, what, write=False)
                            if isinstance(translated, TemporaryError):
                                log.warning(
                                    "%s (attempt %d)",
                                    translated,
                                    attempt.retry_state.attempt_number,
                                )
                            raise translated from error
                finally:
                    PRIORITY.reset(token)
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    def _retryable(self, error: BaseException) -> bool:
        """Temporary errors are retried; a rate limit only when its cool-down is waited out."""
        if isinstance(error, RateLimited):
            return error.retry_after <= self.settings.cooldown_max_wait.total_seconds()
        return isinstance(error, TemporaryError)

    async def _write(
        self, what: str, call: Callable[[], Awaitable[T]], account: str | None = None
    ) -> T:
        """A write: sent once, never retried; errors translated with write semantics. A write
        for `account` (counted before it is handed over, whatever its outcome) ends the reuse of
        the account's last snapshot as the executor's re-read."""
        if account is not None:
            self._sends[account] = self._sends.get(account, 0) + 1
        self._check_cooldown(what)
        token = PRIORITY.set(PRIORITY_PROTECTIVE)
        try:
            return await self._send(what, call)
        finally:
            PRIORITY.reset(token)

    async def _send(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        async with self.gate.slot(PRIORITY_PROTECTIVE):
            self.write_calls += 1
            try:
                return await call()
            except Exception as error:
                raise self._translate(error, what, write=True) from error

    # ---------------------------------------------------------------- venue-wide cool-down

    def _translate(self, error: Exception, what: str, *, write: bool) -> GatewayError:
        headers = None
        if isinstance(error, RATE_LIMIT_ERRORS):
            headers = next(
                (
                    c.last_response_headers
                    for c in [*self._clients.values(), self._public]
                    if c is not None and getattr(c, "last_response_headers", None)
                ),
                None,
            )
        translated = translate(
            error, self.venue, what, write=write, secrets=self.secrets(), headers=headers
        )
        if isinstance(translated, RateLimited):
            self._start_cooldown(translated)
        return translated

    def _start_cooldown(self, error: RateLimited) -> None:
        """Close the venue's gate for Retry-After: no request to the venue until it passes;
        waiting protective work is served first when it reopens."""
        until = self.clock() + timedelta(seconds=error.retry_after)
        if self.cooldown_until is not None and self.cooldown_until >= until:
            return
        self.cooldown_until = until
        self.gate.close()
        log.error("%s: venue-wide cool-down %.0f s until %s", self.venue, error.retry_after, until)
        if self._reopen is not None:
            self._reopen.cancel()
        self._reopen = asyncio.get_running_loop().create_task(self._reopen_after(error.retry_after))
        for listener in list(self.cooldown_listeners):
            try:
                listener(self.venue, until, error)
            except Exception:  # a listener never stops the cool-down
                log.exception("%s: cool-down listener failed", self.venue)

    def cooldown_remaining(self) -> float:
        """Seconds of the venue-wide cool-down left (0.0: none)."""
        until = self.cooldown_until
        if until is None:
            return 0.0
        return max(0.0, (until - self.clock()).total_seconds())

    async def _reopen_after(self, seconds: float) -> None:
        await self._sleep(seconds)
        self.cooldown_until = None
        self.gate.reopen()

    def _check_cooldown(self, what: str) -> None:
        """During a cool-down longer than `cooldown_max_wait`, fail at once (nothing is sent);
        shorter ones are waited out in the gate's queue."""
        until = self.cooldown_until
        if until is None:
            return
        remaining = (until - self.clock()).total_seconds()
        if remaining > self.settings.cooldown_max_wait.total_seconds():
            raise RateLimited(
                f"{self.venue} {what}: not sent, venue-wide rate-limit cool-down until "
                f"{until:%Y-%m-%d %H:%M:%S} UTC ({remaining:.0f} s left, Retry-After)",
                remaining,
            )

    async def close(self) -> None:
        clients = list(self._clients.values())
        if self._public is not None:
            clients.append(self._public)
        if self._reopen is not None:
            self._reopen.cancel()
        # together: each ccxt close sleeps `timeout_on_exit` (0.25 s), one after another that is
        # minutes of shutdown for a venue with a thousand accounts
        await asyncio.gather(*(client.close() for client in clients))
        await self.http.close()  # the clients leave the shared session open
        self._clients.clear()
        self._public = None
