"""The ccxt gateway: the only module importing ccxt. One ccxt client per account of one venue.

Invariants: credentials come only from environment variables or secret files and are never
logged or put in an error message; ccxt errors are translated once, here, into the gateway
error families; reads are retried on temporary errors with bounded jittered backoff; order
creation is never retried (a timeout is an unknown outcome, resolved by client id); venue-wide
market data is fetched once per venue per epoch and shared by every account on the venue;
protective orders go ahead of routine polling through a per-venue priority gate.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import importlib
import itertools
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import ccxt.async_support as ccxt_async
from ccxt.base import errors as ccxt_errors
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from guard.core.domain import (
    ZERO,
    AccountSnapshot,
    MarketSpec,
    OrderPlan,
    OrderResult,
    frozen_map,
)
from guard.core.domain import OrderStatus as Status
from guard.core.venues.ccxt_options import CcxtVenue, ccxt_venue
from guard.gateway.base import (
    GatewayError,
    OrderRejected,
    PermanentError,
    TemporaryError,
    UnknownOrderOutcome,
)
from guard.gateway.ordermap import CcxtOrder, OrderMappingError, map_order

log = logging.getLogger("guard.gateway.ccxt")
T = TypeVar("T")

# ccxt logs every request with its headers (API keys, passphrases) at DEBUG on this logger
CCXT_LOGGER = "ccxt.base.exchange"
_SECRETS: set[str] = set()  # every credential value any gateway of this process resolved


class RedactSecrets(logging.Filter):
    """Scrubs resolved credential values from ccxt's log records before any handler sees them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _SECRETS:
            return True
        message = record.getMessage()
        cleaned = redact(message, sorted(_SECRETS))
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_ccxt_log = logging.getLogger(CCXT_LOGGER)
_ccxt_log.addFilter(RedactSecrets())
if _ccxt_log.level == logging.NOTSET:
    _ccxt_log.setLevel(logging.INFO)  # request dumps only when an operator asks for them

PRIORITY_PROTECTIVE = 0  # reduce-only orders, cancels, and the lookups that resolve them
PRIORITY_ROUTINE = 1  # snapshots and market data


# --------------------------------------------------------------------------------------------
# credentials


@dataclass(frozen=True, slots=True)
class Credentials:
    """Where an account's secrets live: ccxt field -> env var name, or -> secret file path.

    Only names and paths are stored (safe in YAML and logs); values are read at client creation.
    """

    env: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[str, str] = field(default_factory=dict)

    def resolve(self, environ: Mapping[str, str] | None = None) -> dict[str, str]:
        """The secret values; a PermanentError names the missing variable or file, not a value."""
        source = os.environ if environ is None else environ
        values: dict[str, str] = {}
        for name, variable in self.env.items():
            value = source.get(variable)
            if not value:
                raise PermanentError(f"credential {name}: environment variable {variable} is unset")
            values[name] = value
        for name, path in self.files.items():
            try:
                values[name] = Path(path).read_text(encoding="utf-8").strip()
            except OSError as error:
                raise PermanentError(
                    f"credential {name}: cannot read secret file {path} ({error.strerror})"
                ) from None
            if not values[name]:
                raise PermanentError(f"credential {name}: secret file {path} is empty")
        return values


@dataclass(frozen=True, slots=True)
class AccountConfig:
    """One account on one venue as the gateway needs it (no secret values)."""

    name: str
    venue: str
    credentials: Credentials = field(default_factory=Credentials)
    # symbols whose market data is fetched even with no open position there
    watch_symbols: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    """Tunables of one venue gateway (defaults suit production; tests shrink the waits)."""

    timeout_ms: int = 10_000
    read_attempts: int = 4
    backoff_base: float = 0.5  # seconds, exponential with full jitter
    backoff_max: float = 8.0
    max_concurrent: int = 4  # per-venue budget of requests in flight
    market_data_ttl: timedelta = timedelta(seconds=2)  # one "tick epoch" of shared market data
    markets_max_age: timedelta = timedelta(hours=1)
    book_depth_levels: int = 5
    api_base: str | None = None  # e.g. a local stub or a proxy; every API url is rewritten
    ccxt_rate_limit: bool = True  # ccxt's own request spacing (off only for recorded replays)


# --------------------------------------------------------------------------------------------
# error translation (the one place)

_PERMANENT = (
    ccxt_errors.AuthenticationError,
    ccxt_errors.PermissionDenied,
    ccxt_errors.AccountSuspended,
    ccxt_errors.NotSupported,
    ccxt_errors.ArgumentsRequired,
    ccxt_errors.BadSymbol,
)
_REJECTED = (
    ccxt_errors.InvalidOrder,
    ccxt_errors.InsufficientFunds,
    ccxt_errors.OrderNotFound,
    ccxt_errors.BadRequest,
)
_RATE_LIMITED = (ccxt_errors.RateLimitExceeded, ccxt_errors.DDoSProtection)


def translate(
    error: Exception, venue: str, what: str, *, write: bool, secrets: Sequence[str] = ()
) -> GatewayError:
    """The gateway error family of a ccxt (or transport) error, with secrets redacted."""
    message = redact(f"{venue} {what}: {type(error).__name__}: {error}", secrets)
    if isinstance(error, GatewayError):
        return error
    if isinstance(error, _RATE_LIMITED):
        return TemporaryError(message)  # refused before processing: nothing was placed
    if isinstance(error, ccxt_errors.NetworkError | asyncio.TimeoutError | OSError):
        # a timeout or lost connection on a write: the venue may have acted on it
        return UnknownOrderOutcome(message) if write else TemporaryError(message)
    if isinstance(error, _PERMANENT):
        return PermanentError(message)
    if isinstance(error, _REJECTED) or (write and isinstance(error, ccxt_errors.ExchangeError)):
        return OrderRejected(message) if write else PermanentError(message)
    if isinstance(error, ccxt_errors.ExchangeError):
        return TemporaryError(message)
    return PermanentError(message)


def redact(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


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
# clients


class _Hyperliquid(ccxt_async.hyperliquid):  # type: ignore[misc]
    """Hyperliquid without ccxt's first-use writes (builder-fee approval, setReferrer)."""

    async def initialize_client(self) -> bool:
        return True


class _Dydx(ccxt_async.dydx):  # type: ignore[misc]
    """dYdX with the indexer's integer market exponents accepted when building an order.

    ccxt 4.5.90 (Python) feeds `info.atomicResolution` and `info.quantumConversionExponent`
    to string arithmetic, but the indexer sends them as JSON integers (see the real
    perpetualMarkets payload), so every create_order fails with a TypeError. They are
    stringified here, once per market, before ccxt builds the order. ccxt also names its own
    order-router address (a revenue-share attribution) on every order; it is removed, as the
    Hyperliquid builder is.
    """

    def create_order_request(
        self, symbol: Any, type: Any, side: Any, amount: Any, price: Any = None, params: Any = None
    ) -> Any:
        info = self.market(symbol).get("info") or {}
        for key in ("atomicResolution", "quantumConversionExponent"):
            if isinstance(info.get(key), int):
                info[key] = str(info[key])
        built = super().create_order_request(symbol, type, side, amount, price, params or {})
        built[1]["value"]["order"]["orderRouterAddress"] = ""
        return built


_CLASSES: dict[str, Any] = {"hyperliquid": _Hyperliquid, "dydx": _Dydx}


def redirect_urls(urls: Any, base: str) -> Any:
    """Every API url rewritten to `base`/<key>/<original path> (a stub server or a proxy)."""
    if isinstance(urls, dict):
        return {key: _redirect_one(key, value, base) for key, value in urls.items()}
    return _redirect_one("api", urls, base)


def _redirect_one(key: str, value: Any, base: str) -> Any:
    if isinstance(value, dict):
        return {k: _redirect_one(k, v, base) for k, v in value.items()}
    if not isinstance(value, str):
        return value
    path = urlsplit(value.replace("{hostname}", "host")).path.rstrip("/")
    return f"{base.rstrip('/')}/{key}{path}"


def make_client(
    venue: CcxtVenue,
    secrets: Mapping[str, str] | None = None,
    settings: GatewaySettings | None = None,
) -> Any:
    """A ccxt async exchange for `venue` with the project's options (unauthenticated if no secrets)."""
    settings = settings or GatewaySettings()
    config: dict[str, Any] = {
        key: dict(value) if isinstance(value, Mapping) else value
        for key, value in venue.config.items()
    }
    options: dict[str, Any] = _deep_copy(config.get("options", {}))
    config["options"] = options
    config["enableRateLimit"] = settings.ccxt_rate_limit
    config["timeout"] = settings.timeout_ms
    for name, value in (secrets or {}).items():
        if venue.venue == "dydx" and name == "privateKey":
            options["privateKey"] = value  # the dYdX chain key (hex secp256k1)
        else:
            config[name] = value
    cls = _CLASSES.get(venue.venue) or getattr(ccxt_async, venue.ccxt_id)
    client = cls(config)
    if settings.api_base:
        client.urls["api"] = redirect_urls(client.urls["api"], settings.api_base)
    return client


def _deep_copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_deep_copy(v) for v in value]
    return value


def public_client(venue: str, settings: GatewaySettings | None = None) -> Any:
    """An unauthenticated ccxt async exchange for `venue` with the venue's options (history)."""
    return make_client(ccxt_venue(venue), None, settings)


# --------------------------------------------------------------------------------------------
# helpers on ccxt structures (numbers enter the domain as Decimal)


def dec(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def order_result(
    order: Mapping[str, Any],
    client_order_id: str,
    contract_size: Decimal,
    *,
    requested: Decimal | None = None,
) -> OrderResult:
    """The domain OrderResult of a ccxt order dict (amounts converted to base units).

    `requested` (base units) is given for immediate (market / IOC) orders just created: such an
    order cannot rest, so a fill reported without a final status is complete or partial.
    """
    status = order.get("status")
    filled = (dec(order.get("filled")) or ZERO) * contract_size
    amount = dec(order.get("amount"))
    wanted = amount * contract_size if amount is not None else requested
    if status == "closed":
        outcome = Status.FILLED
        if wanted is not None and filled < wanted:
            outcome = Status.PARTIALLY_FILLED
    elif status in ("canceled", "cancelled", "expired"):
        outcome = Status.PARTIALLY_FILLED if filled > ZERO else Status.REJECTED
    elif status == "rejected":
        outcome = Status.REJECTED
    elif requested is not None and filled > ZERO:
        outcome = Status.FILLED if filled >= requested else Status.PARTIALLY_FILLED
    else:  # open, or a create response that only acknowledges
        outcome = Status.ACKNOWLEDGED
    fee = order.get("fee") or {}
    message = "" if outcome is not Status.REJECTED else f"venue status {status}, nothing filled"
    venue_id = order.get("id")
    return OrderResult(
        client_order_id=client_order_id,
        status=outcome,
        filled_quantity=filled,
        average_price=dec(order.get("average")),
        fee=dec(fee.get("cost")) or ZERO,
        venue_order_id=str(venue_id) if venue_id not in (None, "") else None,
        message=message,
    )


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


# --------------------------------------------------------------------------------------------
# the gateway


Parse = Callable[[str, str, datetime, dict[str, Any]], Any]


def _default_parse(venue: str, account: str, taken_at: datetime, raw: dict[str, Any]) -> Any:
    parsers = importlib.import_module("guard.gateway.parsers")  # helper module, bound late
    return parsers.parse_snapshot(venue, account, taken_at, raw)


class CcxtGateway:
    """A Gateway for one or more accounts of one venue through ccxt (one client per account)."""

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
            _SECRETS.update(self._secrets[account])
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

    # ---------------------------------------------------------------- snapshot

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

    # ---------------------------------------------------------------- orders

    async def _spec(self, plan: OrderPlan) -> MarketSpec:
        spec = self._specs.get(plan.account, {}).get(plan.symbol)
        if spec is None:
            snapshot = await self.fetch_snapshot(plan.account)
            spec = snapshot.markets.get(plan.symbol)
        if spec is None:
            raise OrderRejected(f"{self.venue}: no market spec for {plan.symbol}")
        return spec

    def order_request(self, plan: OrderPlan, spec: MarketSpec) -> CcxtOrder:
        """The ccxt create_order arguments of `plan` (OrderRejected if it cannot be sent)."""
        try:
            return map_order(
                self.venue,
                plan,
                spec,
                reference_price=self._marks.get(plan.account, {}).get(plan.symbol),
            )
        except OrderMappingError as error:
            raise OrderRejected(f"{self.venue} {plan.symbol}: {error}") from error

    async def create_order(self, plan: OrderPlan) -> OrderResult:
        spec = await self._spec(plan)
        order = self.order_request(plan, spec)
        client = await self._ready(plan.account)
        created = await self._write(
            "create_order",
            lambda: client.create_order(
                order.symbol, order.type, order.side, order.amount, order.price, dict(order.params)
            ),
        )
        sent = Decimal(order.amount) * self._ccxt_unit(spec)
        return order_result(created, plan.client_order_id, self._ccxt_unit(spec), requested=sent)

    def _ccxt_unit(self, spec: MarketSpec | None) -> Decimal:
        if self.spec.amounts_in_contracts and spec is not None:
            return spec.contract_size
        return Decimal(1)

    async def fetch_order(
        self, account: str, symbol: str, client_order_id: str
    ) -> OrderResult | None:
        client = await self._ready(account)
        unit = self._ccxt_unit(self._specs.get(account, {}).get(symbol))

        async def lookup() -> Any:
            try:
                found = await self._find_order(client, symbol, client_order_id)
            except ccxt_errors.OrderNotFound:
                return None
            if found is None or (found.get("id") is None and found.get("status") is None):
                return None  # e.g. Hyperliquid's {"status": "unknownOid"} parses to an empty order
            return found

        found = await self._read("fetch_order", lookup, priority=PRIORITY_PROTECTIVE)
        return None if found is None else order_result(found, client_order_id, unit)

    async def _find_order(self, client: Any, symbol: str, cid: str) -> Any:
        if self.venue == "binance":
            return await client.fetch_order("", symbol, {"origClientOrderId": cid})
        if self.venue == "okx":
            return await client.fetch_order("", symbol, {"clOrdId": cid})
        if self.venue == "hyperliquid":
            return await client.fetch_order("", symbol, {"clientOrderId": cid})
        if self.venue == "bybit":
            market = client.market(symbol)
            for endpoint in (client.privateGetV5OrderRealtime, client.privateGetV5OrderHistory):
                response = await endpoint(
                    {"category": "linear", "symbol": market["id"], "orderLinkId": cid}
                )
                rows = (response.get("result") or {}).get("list") or []
                if rows:
                    return client.parse_order(rows[0], market)
            return None
        # dydx: the indexer is searched by the numeric client id
        orders = await client.fetch_orders(symbol)
        for order in orders:
            if str(order.get("clientOrderId")) == cid:
                return order
        return None

    async def fetch_open_orders(self, account: str) -> list[OrderResult]:
        client = await self._ready(account)
        orders = await self._read("fetch_open_orders", lambda: client.fetch_open_orders())
        results = []
        for order in orders:
            spec = self._specs.get(account, {}).get(order.get("symbol", ""))
            cid = str(order.get("clientOrderId") or order.get("id"))
            results.append(order_result(order, cid, self._ccxt_unit(spec)))
        return results

    async def cancel_order(self, account: str, symbol: str, client_order_id: str) -> OrderResult:
        """Cancel by client id; an order the venue no longer has open is reported as it ended."""
        if self.venue == "dydx":
            # the guard's dYdX orders are short-term IOC: they never rest, and expire on chain
            # within 20 blocks; a cancel has nothing to act on, so report the order as it is
            found = await self.fetch_order(account, symbol, client_order_id)
            if found is None:
                raise OrderRejected(
                    f"dydx cancel {client_order_id}: unknown to the indexer (short-term orders "
                    "expire by block height)"
                )
            return found
        client = await self._ready(account)
        params: dict[str, Any] = {
            "binance": {"origClientOrderId": client_order_id},
            "bybit": {"orderLinkId": client_order_id},
            "okx": {"clOrdId": client_order_id},
            "hyperliquid": {"clientOrderId": client_order_id},
        }[self.venue]
        unit = self._ccxt_unit(self._specs.get(account, {}).get(symbol))
        try:
            cancelled = await self._write(
                "cancel_order", lambda: client.cancel_order("", symbol, dict(params))
            )
        except OrderRejected as error:
            if not isinstance(error.__cause__, ccxt_errors.OrderNotFound):
                raise
            found = await self.fetch_order(account, symbol, client_order_id)
            if found is None:
                raise
            return replace(found, message=f"not open any more: {found.status.value}")
        return order_result(cancelled, client_order_id, unit)

    async def close(self) -> None:
        clients = list(self._clients.values())
        if self._public is not None:
            clients.append(self._public)
        for client in clients:
            await client.close()
        self._clients.clear()
        self._public = None


def build_gateways(
    accounts: Sequence[AccountConfig], settings: GatewaySettings | None = None
) -> dict[str, CcxtGateway]:
    """One gateway per venue holding all of that venue's accounts (shared markets and data)."""
    by_venue: dict[str, list[AccountConfig]] = {}
    for account in accounts:
        by_venue.setdefault(account.venue, []).append(account)
    return {
        venue: CcxtGateway(venue, group, settings=settings) for venue, group in by_venue.items()
    }


def with_top_of_book(
    snapshot: AccountSnapshot, books: Mapping[str, Any], markets: Mapping[str, Any]
) -> AccountSnapshot:
    """`snapshot` with best bid/ask and top-of-book depth (base units) from ccxt order books."""
    data = dict(snapshot.market_data)
    for symbol, book in books.items():
        current = data.get(symbol)
        if current is None:
            continue
        size = dec((markets.get(symbol) or {}).get("contractSize")) or Decimal(1)
        bids, asks = book.get("bids") or [], book.get("asks") or []
        data[symbol] = replace(
            current,
            best_bid=dec(bids[0][0]) if bids else current.best_bid,
            best_ask=dec(asks[0][0]) if asks else current.best_ask,
            bid_depth=sum(((dec(level[1]) or ZERO) * size for level in bids), ZERO)
            if bids
            else current.bid_depth,
            ask_depth=sum(((dec(level[1]) or ZERO) * size for level in asks), ZERO)
            if asks
            else current.ask_depth,
        )
    return replace(snapshot, market_data=frozen_map(data))


__all__ = [
    "AccountConfig",
    "CcxtGateway",
    "Credentials",
    "GatewaySettings",
    "PriorityGate",
    "build_gateways",
    "make_client",
    "public_client",
    "redirect_urls",
    "translate",
    "with_top_of_book",
]
