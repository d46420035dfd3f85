"""Venue streams through ccxt.pro (not pure: sockets, tasks): one public connection per venue for
mark prices shared by every account, one private connection per account for its positions,
balance and orders; reconnect with jittered backoff (ccxt resubscribes on the new socket), silence
and drop detection, venue-timestamped updates older than the staleness bound dropped. Invariant:
stream data only wakes ticks (StreamUpdate values); it never reaches an order's size."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from guard.core.venues.ccxt_options import ccxt_venue
from guard.core.wake import StreamUpdate
from guard.gateway.ccxt.clients import SECRETS, AccountConfig, GatewaySettings, make_client
from guard.gateway.stream_state import StreamState as StreamState

log = logging.getLogger("guard.gateway.ccxt.streams")

# venues whose ccxt.pro streams guard subscribes to (the others are polled only: docs/streams.md)
STREAM_VENUES = ("binance", "hyperliquid")


@dataclass(frozen=True, slots=True)
class StreamSettings:
    """Tunables of the stream subscriber (defaults suit production; tests shrink them)."""

    silence: timedelta = timedelta(seconds=15)  # no message within this → stale, poll alone
    staleness: timedelta = timedelta(minutes=2)  # a message timestamped older is dropped
    backoff_base: float = 0.5  # seconds, exponential with full jitter, per reconnect
    backoff_max: float = 30.0


Updates = Callable[[StreamUpdate], None]
States = Callable[[str, StreamState, str], None]


@dataclass
class VenueStreams:
    """The streams of one venue (and base URL) for its accounts."""

    venue: str
    accounts: Sequence[AccountConfig]
    on_update: Updates
    on_state: States
    settings: StreamSettings = StreamSettings()
    gateway: GatewaySettings = field(default_factory=GatewaySettings)
    environ: Mapping[str, str] | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    state: StreamState = StreamState.CONNECTING
    last_message: datetime | None = None
    messages: int = 0
    dropped_stale: int = 0
    reconnects: int = 0
    symbols: set[str] = field(default_factory=set)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _symbol_tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    _clients: list[Any] = field(default_factory=list)
    _public: Any = None
    _held: dict[str, set[str]] = field(default_factory=dict)  # hyperliquid: last symbols held
    _markets: asyncio.Lock = field(default_factory=asyncio.Lock)

    # ---------------------------------------------------------------- life cycle

    async def start(self) -> None:
        if self.venue not in STREAM_VENUES:
            raise ValueError(f"{self.venue}: no stream subscriber (polled only)")
        self._public = self._client(None)
        self._tasks.append(asyncio.create_task(self._watchdog()))
        if self.venue == "binance":
            self._tasks.append(asyncio.create_task(self._loop("marks", self._binance_marks)))
        for account in self.accounts:
            client = self._client(account)
            for what, watch in (
                ("positions", self._positions),
                ("balance", self._balance),
                ("orders", self._orders),
            ):
                self._tasks.append(
                    asyncio.create_task(
                        self._loop(f"{what}:{account.name}", _bound(watch, client, account.name))
                    )
                )

    async def stop(self) -> None:
        tasks = [*self._tasks, *self._symbol_tasks.values()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        self._tasks.clear()
        self._symbol_tasks.clear()
        for client in self._clients:
            with contextlib.suppress(Exception):
                await client.close()
        self._clients.clear()

    def watch(self, symbols: Iterable[str]) -> None:
        """The markets whose mark prices are streamed (the union of the accounts' positions)."""
        self.symbols.update(symbols)
        if self.venue == "hyperliquid" and self._public is not None:
            for symbol in self.symbols - set(self._symbol_tasks):
                self._symbol_tasks[symbol] = asyncio.create_task(
                    self._loop(f"mark:{symbol}", _bound(self._hl_mark, self._public, symbol))
                )

    def _client(self, account: AccountConfig | None) -> Any:
        secrets = None if account is None else account.credentials.resolve(self.environ)
        if secrets:
            SECRETS.update(v for k, v in secrets.items() if k != "walletAddress")
        client = make_client(ccxt_venue(self.venue), secrets, self.gateway, streaming=True)
        self._clients.append(client)
        return client

    async def _ready(self, client: Any) -> None:
        """Markets loaded once on the public client and shared (no load per account)."""
        async with self._markets:
            if not self._public.markets:
                await self._public.load_markets()
        if client is not self._public and not client.markets:
            client.set_markets(self._public.markets, self._public.currencies)

    # ---------------------------------------------------------------- loops

    async def _loop(self, what: str, watch: Callable[[], Awaitable[None]]) -> None:
        """Run `watch` for ever; after a failure mark the venue down (fallback) and reconnect
        with jittered exponential backoff (ccxt resubscribes on the new connection)."""
        failures = 0
        while True:
            try:
                await watch()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as error:
                failures += 1
                self.reconnects += 1
                self._set(StreamState.DOWN, f"{what}: {type(error).__name__}: {error}")
                delay = min(self.settings.backoff_max, self.settings.backoff_base * 2**failures)
                await self.sleep(random.uniform(0, delay))

    async def _watchdog(self) -> None:
        """Mark the venue stale when no message arrived within the silence bound."""
        bound = self.settings.silence
        started = self.clock()
        while True:
            await self.sleep(min(max(bound.total_seconds() / 4, 0.01), 1.0))
            last = self.last_message or started
            if self.clock() - last > bound and self.state is not StreamState.STALE:
                self._set(StreamState.STALE, f"no message for more than {bound}")

    def _set(self, state: StreamState, detail: str) -> None:
        if state is self.state:
            return
        self.state = state
        log.log(
            logging.WARNING if state.fallback else logging.INFO,
            "%s stream %s: %s",
            self.venue,
            state.value,
            detail,
        )
        self.on_state(self.venue, state, detail)

    def _received(self, updates: Iterable[StreamUpdate]) -> None:
        """Count a message as life, drop what is older than the staleness bound, pass the rest."""
        now = self.clock()
        fresh, dropped = [], 0
        for update in updates:
            if now - update.at > self.settings.staleness:
                dropped += 1
                continue
            fresh.append(update)
        self.dropped_stale += dropped
        if dropped and not fresh:
            return  # only stale data: not a sign of a live stream
        self.messages += 1
        self.last_message = now
        self._set(StreamState.CONNECTED, "messages arriving")
        for update in fresh:
            self.on_update(update)

    # ---------------------------------------------------------------- what is watched

    async def _binance_marks(self) -> None:
        await self._ready(self._public)
        while not self.symbols:
            await self.sleep(0.05)
        tickers = await self._public.watch_mark_prices(sorted(self.symbols))
        self._received(
            _mark(symbol, t, t.get("markPrice"), self._at(t.get("timestamp")))
            for symbol, t in tickers.items()
        )

    async def _hl_mark(self, client: Any, symbol: str) -> None:
        await self._ready(client)
        ticker = await client.watch_ticker(symbol)
        info = ticker.get("info") or {}
        # activeAssetCtx carries no time: receipt time (docs/streams.md)
        self._received([_mark(symbol, ticker, info.get("markPx"), self.clock())])

    async def _positions(self, client: Any, account: str) -> None:
        await self._ready(client)
        positions = await client.watch_positions()
        updates: dict[str, StreamUpdate] = {}
        for p in positions:
            symbol = p.get("symbol")
            size = _decimal(p.get("contracts"))
            if symbol is None or size is None:
                continue
            unit = _decimal(p.get("contractSize")) or Decimal(1)
            signed = size * unit * (-1 if p.get("side") == "short" else 1)
            previous = updates.get(symbol)
            total = signed + (previous.quantity or 0 if previous else 0)
            updates[symbol] = StreamUpdate(
                symbol, self._at(p.get("timestamp")), account=account, quantity=total
            )
        if self.venue == "hyperliquid":  # clearinghouseState is the whole state: gone means 0
            for symbol in self._held.get(account, set()) - set(updates):
                updates[symbol] = StreamUpdate(
                    symbol, self.clock(), account=account, quantity=Decimal(0)
                )
            self._held[account] = {s for s, u in updates.items() if u.quantity}
        self._received(updates.values())

    async def _balance(self, client: Any, account: str) -> None:
        await self._ready(client)
        balance = await client.watch_balance()
        self._received([StreamUpdate("", self._at(balance.get("timestamp")), account=account)])

    async def _orders(self, client: Any, account: str) -> None:
        await self._ready(client)
        orders = await client.watch_orders()
        at = max(
            (o.get("lastUpdateTimestamp") or o.get("timestamp") or 0 for o in orders), default=0
        )
        self._received([StreamUpdate("", self._at(at or None), account=account)])

    def _at(self, millis: Any) -> datetime:
        """The venue's timestamp (receipt time when the message has none)."""
        if isinstance(millis, int | float) and millis > 0:
            return datetime.fromtimestamp(millis / 1000, UTC)
        return self.clock()


def _bound(watch: Callable[[Any, str], Awaitable[None]], client: Any, name: str) -> Any:
    async def call() -> None:
        await watch(client, name)

    return call


def _decimal(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _mark(symbol: str, ticker: Any, price: Any, at: datetime) -> StreamUpdate:
    mark = _decimal(price)
    if mark is None:
        mark = _decimal((ticker or {}).get("markPrice"))
    return StreamUpdate(symbol, at, mark_price=mark if mark is not None and mark > 0 else None)
