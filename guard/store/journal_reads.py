"""The outage journal's reads (database I/O): each read of a tick comes from the database and is
remembered; while it is down, the fallback is what this process last read or wrote (state, the
locks as last read, its own unresolved intents and breaker totals; no operator requests)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from guard.core.domain import ZERO, GuardState
from guard.store.intent_records import StoredIntent, in_flight
from guard.store.journal_flush import JournalFlush
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
