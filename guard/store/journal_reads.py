"""The outage journal's reads (database I/O): each read of a tick comes from the database and is
remembered (and kept in the known file beside the journal, guard.store.journal_known); while it is
down, the fallback is what this process last read or wrote (state, the locks as last read, its own
unresolved intents and breaker totals; no operator requests). A start without the database begins
from the known file plus the journal's pending entries. Thread-safe: the knowledge is kept under
the store's memory lock (never across I/O); a read of every account's locks or intents replaces
only the accounts no other worker re-read or wrote while it ran (no lost update)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from guard.core.domain import ZERO, GuardState
from guard.store.intent_records import StoredIntent, in_flight
from guard.store.journal_flush import JournalFlush
from guard.store.journal_known import KNOWN_EVERY, Known, known_path, load_known, replay, save_known
from guard.store.records import StoredLock, StoredRequest
from guard.store.store import Store
from guard.store.tick_io import TickInputs


class JournalReads(JournalFlush):
    """The read half of the JournaledStore."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._locks: list[StoredLock] | None = None  # every lock at the last read
        self._states: dict[str, GuardState] = {}
        self._open: dict[str, StoredIntent] = {}  # unresolved intents, by client id
        self._known_ids: set[str] = set()  # client ids this process has seen admitted
        self._window: dict[str, tuple[int, Decimal]] = {}  # breaker totals at the last read
        self._markets: dict[str, list[str]] = {}  # each account's markets as last recorded
        self.known_file = known_path(self.journal.path)
        self._known_saved: float | None = None  # monotonic time of the last save
        self.blind = False  # started without the database and not reached it since
        self._saving = threading.Lock()  # one writer of the known file at a time
        self._encoded: dict[str, tuple[GuardState, str]] = {}  # states as last saved (_saving)
        self._generation = 0  # bumped whenever one account's knowledge is read or written
        self._fresh: dict[str, int] = {}  # account -> generation of its last such change

    # ----- the known file -------------------------------------------------------------------
    def _note_known(self, *, now: bool = False) -> None:
        """Keep the known file up to date (at most every KNOWN_EVERY s, or `now`), only while
        the database answers: during an outage the journal holds what changed."""
        if self.blind or self.down_since is not None:
            return
        # one writer at a time, the snapshot taken under its lock, so the last file written
        # holds the latest knowledge (`now`: waits for a save in progress, else skipped)
        if not self._saving.acquire(blocking=now):
            return
        try:
            moment = self.monotonic()
            saved = self._known_saved
            if not now and saved is not None and moment - saved < KNOWN_EVERY:
                return
            self._known_saved = moment
            with contextlib.suppress(OSError):  # a stale file only costs look-ups at the venue
                save_known(self.known_file, self._known(), datetime.now(UTC), self._encoded)
        finally:
            self._saving.release()

    def _known(self) -> Known:
        with self._memory:
            return Known(
                list(self._locks or ()),
                dict(self._states),
                dict(self._window),
                dict(self._open),
                dict(self._markets),
            )

    def _touch(self, account: str) -> None:
        """Note that `account`'s knowledge changed now (under the memory lock)."""
        self._generation += 1
        self._fresh[account] = self._generation

    def _changed_since(self, began: int) -> set[str]:
        """The accounts whose knowledge changed after generation `began` (memory lock)."""
        return {account for account, seen in self._fresh.items() if seen > began}

    def _went_down(self, error: BaseException) -> None:
        with self._serial:  # lock order: journal lock, known file, memory
            if self.down_since is None and not self.journal.pending():
                self._note_known(now=True)  # the last knowledge before the journal takes over
            super()._went_down(error)

    def _came_up(self) -> None:
        self.blind = False
        super()._came_up()

    def start_without_database(self, error: BaseException, *later: Callable[[], object]) -> bool:
        """Begin from the known file and the journal's pending entries because the database is
        unreachable at start-up (`error`); `later` runs once it answers, before the flush.
        False when there is no known file (nothing to start from)."""
        known = load_known(self.known_file)
        if known is None:
            return False
        with self._serial, self._memory:
            self._journaled_intents = replay(known, self.journal.pending())
            self._locks = known.locks
            self._states = known.states
            self._window = known.window
            self._open = known.open
            self._known_ids = set(known.open)
            self._markets = known.markets
            self._before_flush.extend(later)
            self.blind = True
            self._went_down(error)
        return True

    @property
    def sends_unverified(self) -> bool:
        """Whether an admitted order must first be looked up at the venue by its client id:
        after a start without the database, until it answers (the known file may lag it)."""
        return self.blind

    def record_markets(self, account: str, markets: Sequence[str]) -> None:
        with self._memory:
            self._markets[account] = sorted(markets)
        self._attempt(lambda: Store.record_markets(self, account, markets))

    def account_markets(self, account: str) -> list[str]:
        _, found = self._attempt(lambda: Store.account_markets(self, account))
        if found is not None:
            return found
        with self._memory:
            return list(self._markets.get(account, ()))

    def locks(self, at: datetime, *, include_inactive: bool = False) -> list[StoredLock]:
        """Locks from the database; while it is down, the locks as last read (an operator can
        not set or clear one then anyway)."""
        with self._memory:
            began = self._generation
        _, found = self._attempt(lambda: Store.locks(self, at, include_inactive=True))
        with self._memory:
            if found is not None:
                # an account re-read by its tick meanwhile keeps its fresher locks
                fresher = self._changed_since(began)
                kept = [lock for lock in self._locks or () if lock.account in fresher]
                self._locks = [lock for lock in found if lock.account not in fresher] + kept
            elif self._locks is None:
                raise DatabaseDown(self.problem or "database unreachable and no lock read before")
            every = list(self._locks)
        return every if include_inactive else [lock for lock in every if lock.is_active(at)]

    def read_tick(self, account: str, at: datetime) -> TickInputs:
        """The tick's one read; while the database is down, what this process last read or
        wrote: its state, the locks as last read, its own unresolved intents, no requests."""
        _, found = self._attempt(lambda: Store.read_tick(self, account, at))
        if found is not None:
            with self._memory:
                self._states[account] = found.state
                self._remember_open(account, found.intents)
                self._locks = [
                    lock
                    for lock in self._locks or ()
                    if lock.account is not None and lock.account != account
                ] + list(found.locks)
            self._note_known()
            return found
        with self._memory:
            if self._locks is None:
                raise DatabaseDown(self.problem or "database unreachable and no lock read before")
            intents = tuple(self._open_of(account))
            base = self._states.get(account, GuardState())
            locks = tuple(x for x in self._locks if x.is_active(at) and x.covers(account))
        return TickInputs(base.with_in_flight(in_flight(intents)), locks, (), intents)

    def load_state(self, account: str) -> GuardState:
        """The account's state; while down, the last state read or written by this process with
        the reductions this process knows to be in flight."""
        _, state = self._attempt(lambda: Store.load_state(self, account))
        with self._memory:
            if state is not None:
                self._states[account] = state
                return state
            base = self._states.get(account, GuardState())
            return base.with_in_flight(in_flight(self._open_of(account)))

    def unresolved_intents(self, account: str | None = None) -> list[StoredIntent]:
        with self._memory:
            began = self._generation
        _, found = self._attempt(lambda: Store.unresolved_intents(self, account))
        with self._memory:
            if found is not None:
                self._remember_open(account, found, began)
                return found
            return self._open_of(account)

    def _remember_open(
        self, account: str | None, found: Sequence[StoredIntent], began: int | None = None
    ) -> None:
        """Replace what this process knows of the unresolved intents of `account` (or all, but
        those of an account whose knowledge changed after generation `began`); memory lock."""
        fresher = set() if account is not None or began is None else self._changed_since(began)
        for client_id in [
            c
            for c, i in self._open.items()
            if (account is None or i.account == account) and i.account not in fresher
        ]:
            del self._open[client_id]
        for intent in found:
            if intent.account in fresher:
                continue
            self._open[intent.client_order_id] = intent
            self._known_ids.add(intent.client_order_id)
        if account is not None:
            self._touch(account)

    def _open_of(self, account: str | None) -> list[StoredIntent]:
        return sorted(
            (i for i in self._open.values() if account is None or i.account == account),
            key=lambda i: i.created_at,
        )

    def pending_requests(self, account: str | None = None) -> list[StoredRequest]:
        """While the database is down no operator request can be read: none are returned (the
        runner's housekeeping flags them again once it is back)."""
        _, found = self._attempt(lambda: Store.pending_requests(self, account))
        return found if found is not None else []

    def window_totals(self, since: datetime) -> dict[str, tuple[int, Decimal]]:
        """Breaker window totals; while down, the last totals read plus this process's own
        intents admitted since (counted whatever their outcome, so never under-counted)."""
        _, found = self._attempt(lambda: Store.window_totals(self, since))
        if found is not None:
            with self._memory:
                self._window = dict(found)
            return found
        with self._memory:
            totals = dict(self._window)
            journaled = list(self._journaled_intents)
        for intent in journaled:
            if intent.created_at < since:
                continue
            count, notional = totals.get(intent.account, (0, ZERO))
            if intent.average_price is not None and intent.filled_quantity > ZERO:
                amount = intent.filled_quantity * intent.average_price
            else:
                amount = intent.quantity * (intent.limit_price or ZERO)
            totals[intent.account] = (count + 1, notional + amount)
        return totals


class DatabaseDown(Exception):
    """The database is unreachable and nothing was read from it before to fall back on."""
