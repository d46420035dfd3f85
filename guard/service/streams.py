"""Stream wake-ups (I/O): the venues' streams feed the pure pre-check with each account's facts
from its last full tick; a woken account gets one immediate full tick, coalesced (while a tick
runs at most one follows it); fallback to polling alone is alerted once per episode and shown in
the stream-state metric. Invariant: stream data only wakes ticks; each tick reads the venue."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from guard.core.domain import AccountSnapshot, Decision, Severity
from guard.core.policy.schema import PolicySet
from guard.core.wake import (
    DEFAULT_MOVE_FRACTION,
    PositionFacts,
    StreamUpdate,
    facts_of,
    wake_reason,
)
from guard.gateway.stream_state import StreamState
from guard.service.logs import logger
from guard.service.metrics import Health
from guard.service.notify import AlertKind, Notifier

if TYPE_CHECKING:  # ccxt is loaded only when a venue streams
    from guard.gateway.ccxt.streams import VenueStreams


class StreamMetrics:
    """guard_stream_state{venue,state} (1 for the current state), wake-ups and fallbacks."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.state = Gauge(
            "guard_stream_state",
            "Venue stream state (1 for the current one): connecting, connected, stale, down",
            ["venue", "state"],
            registry=registry,
        )
        self.wakes = Counter(
            "guard_stream_wakes",
            "Full ticks woken by a stream update",
            ["account"],
            registry=registry,
        )
        self.fallbacks = Counter(
            "guard_stream_fallbacks",
            "Times a venue's stream went stale or down (polling alone protects)",
            ["venue"],
            registry=registry,
        )

    def show(self, venue: str, state: StreamState) -> None:
        for each in StreamState:
            self.state.labels(venue, each.value).set(1 if each is state else 0)


@dataclass
class StreamWaker:
    """Routes stream updates to the pre-check and wakes accounts through `wake`."""

    wake: Callable[[str, str], None]  # (account, reason): the runner's coalescing wake-up
    notifier: Callable[[], Notifier | None] = lambda: None  # the service's (reloads replace it)
    metrics: StreamMetrics | None = None
    health: Health | None = None  # a venue falling back degrades /health as @stream:<venue>
    move_fraction: Decimal = DEFAULT_MOVE_FRACTION
    venues: dict[str, VenueStreams] = field(default_factory=dict)  # key -> its streams
    accounts_of: dict[str, list[str]] = field(default_factory=dict)  # key -> account names
    facts: dict[str, tuple[PositionFacts, ...]] = field(default_factory=dict)
    woken: int = 0
    _alerts: set[asyncio.Task[Any]] = field(default_factory=set)
    _fallback: set[str] = field(default_factory=set)  # keys in fallback now (alerted once)
    log: Any = field(default_factory=lambda: logger(service="guard", part="streams"))

    def add(self, key: str, streams: VenueStreams, accounts: Sequence[str]) -> None:
        self.venues[key] = streams
        self.accounts_of[key] = list(accounts)
        if self.metrics is not None:
            self.metrics.show(key, streams.state)

    def remember(
        self, account: str, snapshot: AccountSnapshot, decision: Decision, policies: PolicySet
    ) -> None:
        """The facts of `account`'s last full evaluation (and its markets to stream)."""
        facts = facts_of(snapshot, decision, policies)
        self.facts[account] = facts
        for key, names in self.accounts_of.items():
            if account in names:
                self.venues[key].watch(f.symbol for f in facts)

    def updates_for(self, key: str) -> Callable[[StreamUpdate], None]:
        def on_update(update: StreamUpdate) -> None:
            names = self.accounts_of.get(key, [])
            targets = [update.account] if update.account is not None else names
            for account in targets:
                if account not in names or account not in self.facts:
                    continue  # no full evaluation yet: the poll is the first look
                reason = wake_reason(self.facts[account], update, self.move_fraction)
                if reason is not None:
                    self.woken += 1
                    if self.metrics is not None:
                        self.metrics.wakes.labels(account).inc()
                    self.wake(account, reason)

        return on_update

    def states_for(self, key: str) -> Callable[[str, StreamState, str], None]:
        def on_state(venue: str, state: StreamState, detail: str) -> None:
            if self.metrics is not None:
                self.metrics.show(key, state)
            title = f"{key} stream"
            if state.fallback:
                if key in self._fallback:
                    return  # already falling back (e.g. down, then stale): alerted once
                self._fallback.add(key)
                if self.metrics is not None:
                    self.metrics.fallbacks.labels(key).inc()
                self.log.warning("stream_fallback", venue=key, state=state.value, detail=detail)
                if self.health is not None:
                    self.health.degrade(
                        f"@stream:{key}", "stream", f"{title} {state.value}, polling only: {detail}"
                    )
                notifier = self.notifier()
                if notifier is not None:
                    task = asyncio.get_running_loop().create_task(
                        notifier.alert(
                            AlertKind.STALE,
                            f"stream:{key}",
                            f"{title} {state.value}: polling alone protects",
                            detail,
                            severity=Severity.WARNING,
                        )
                    )
                    self._alerts.add(task)
                    task.add_done_callback(self._alerts.discard)
            elif state is StreamState.CONNECTED and key in self._fallback:
                self._fallback.discard(key)
                self.log.info("stream_recovered", venue=key)
                if self.health is not None:
                    self.health.recover(f"@stream:{key}", "stream")
                notifier = self.notifier()
                if notifier is not None:
                    notifier.forget(f"{AlertKind.STALE.value}:stream:{key}")

        return on_state

    def states(self) -> Mapping[str, StreamState]:
        return {key: streams.state for key, streams in self.venues.items()}

    async def start(self) -> None:
        for streams in self.venues.values():
            await streams.start()

    async def stop(self) -> None:
        for streams in self.venues.values():
            await streams.stop()


class TickCoalescer:
    """Wake-ups to ticks: an account's woken tick starts at once; wake-ups while it is due or
    running leave at most one pending tick, run right after it (a burst never queues more).

    A pending (follow-up) tick waits, at most `defer_max`, while other accounts' first ticks of
    their wake-up are still running: when one move wakes many accounts, those that have not
    acted yet get the event loop, the venue's request slots and its weight window before the
    re-checks of those that have (their own fill is what usually wakes them again)."""

    def __init__(self, run: Callable[[str], Awaitable[Any]], defer_max: float = 1.0) -> None:
        self.run = run
        self.defer_max = defer_max
        self.pending: set[str] = set()
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.first: set[str] = set()  # accounts whose first tick of a wake-up is running
        self._firsts_done = asyncio.Event()
        self._firsts_done.set()
        self.started = 0
        self.deferred = 0  # follow-up ticks that waited for other accounts' first ticks

    def wake(self, account: str, reason: str = "") -> None:
        if account in self.tasks:
            self.pending.add(account)  # a set: one pending tick per account at most
            return
        self.first.add(account)
        self._firsts_done.clear()
        self.tasks[account] = asyncio.get_running_loop().create_task(self._drive(account))

    async def _drive(self, account: str) -> None:
        try:
            while True:
                self.pending.discard(account)
                self.started += 1
                try:
                    await self.run(account)
                finally:
                    self._first_done(account)
                if account not in self.pending:
                    return
                if self.first:  # others have not acted yet: they go first, for a bounded time
                    self.deferred += 1
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._firsts_done.wait(), self.defer_max)
        finally:
            self._first_done(account)
            self.tasks.pop(account, None)

    def _first_done(self, account: str) -> None:
        self.first.discard(account)
        if not self.first:
            self._firsts_done.set()

    async def stop(self) -> None:
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
