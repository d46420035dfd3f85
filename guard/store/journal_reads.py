"""The outage journal's reads (database I/O): each read of a tick comes from the database and is
remembered (and kept in the known file beside the journal, guard.store.journal_known); while it is
down, the fallback is what this process last read or wrote (state, the locks as last read, its own
unresolved intents and breaker totals; no operator requests). A start without the database begins
from the known file plus the journal's pending entries."""

from __future__ import annotations

import contextlib
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

    # ----- the known file -------------------------------------------------------------------
    def _note_known(self, *, now: bool = False) -> None:
        """Keep the known file up to date (at most every KNOWN_EVERY s, or `now`), only while
        the database answers: during an outage the journal holds what changed."""
        if self.blind or self.down_since is not None:
            return
        moment = self.monotonic()
        if not now and self._known_saved is not None and moment - self._known_saved < KNOWN_EVERY:
            return
        self._known_saved = moment
        with contextlib.suppress(OSError):  # a stale file only costs look-ups at the venue
            save_known(self.known_file, self._known(), datetime.now(UTC))

    def _known(self) -> Known:
        return Known(
            list(self._locks or ()),
            dict(self._states),
            dict(self._window),
            dict(self._open),
            dict(self._markets),
        )

    def _went_down(self, error: BaseException) -> None:
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
        self._markets[account] = sorted(markets)
        self._attempt(lambda: Store.record_markets(self, account, markets))

    def account_markets(self, account: str) -> list[str]:
        _, found = self._attempt(lambda: Store.account_markets(self, account))
        return found if found is not None else list(self._markets.get(account, ()))

    def locks(self, at: datetime, *, include_inactive: bool = False) -> list[StoredLock]:
        """Locks from the database; while it is down, the locks as last read (an operator can
        not set or clear one then anyway)."""
        _, found = self._attempt(lambda: Store.locks(self, at, include_inactive=True))
        if found is not None:
            self._locks = found
        elif self._locks is None:
            raise DatabaseDown(self.problem or "database unreachable and no lock read before")
        every = list(self._locks)
        return every if include_inactive else [lock for lock in every if lock.is_active(at)]

    def read_tick(self, account: str, at: datetime) -> TickInputs:
        """The tick's one read; while the database is down, what this process last read or
        wrote: its state, the locks as last read, its own unresolved intents, no requests."""
        _, found = self._attempt(lambda: Store.read_tick(self, account, at))
        if found is not None:
            self._states[account] = found.state
            self._remember_open(account, found.intents)
            self._locks = [
                lock
                for lock in self._locks or ()
                if lock.account is not None and lock.account != account
            ] + list(found.locks)
            self._note_known()
            return found
        if self._locks is None:
            raise DatabaseDown(self.problem or "database unreachable and no lock read before")
        intents = tuple(self._open_of(account))
        base = self._states.get(account, GuardState())
        return TickInputs(
            base.with_in_flight(in_flight(self._open_of(account))),
            tuple(lock for lock in self._locks if lock.is_active(at) and lock.covers(account)),
            (),
            intents,
        )

    def load_state(self, account: str) -> GuardState:
        """The account's state; while down, the last state read or written by this process with
        the reductions this process knows to be in flight."""
        _, state = self._attempt(lambda: Store.load_state(self, account))
        if state is not None:
            self._states[account] = state
            return state
        base = self._states.get(account, GuardState())
        return base.with_in_flight(in_flight(self._open_of(account)))

    def unresolved_intents(self, account: str | None = None) -> list[StoredIntent]:
        _, found = self._attempt(lambda: Store.unresolved_intents(self, account))
        if found is not None:
            self._remember_open(account, found)
            return found
        return self._open_of(account)

    def _remember_open(self, account: str | None, found: Sequence[StoredIntent]) -> None:
        """Replace what this process knows of the unresolved intents of `account` (or all)."""
        for client_id in [
            c for c, i in self._open.items() if account is None or i.account == account
        ]:
            del self._open[client_id]
        for intent in found:
            self._open[intent.client_order_id] = intent
            self._known_ids.add(intent.client_order_id)

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
            self._window = dict(found)
            return found
        totals = dict(self._window)
        for intent in self._journaled_intents:
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
