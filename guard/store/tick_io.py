"""The tick's two database round trips in SQLAlchemy Core (database I/O): ONE read (rule state
with the reductions in flight, the locks covering the account, its pending operator requests and
unresolved intents, in one deferred transaction that never takes SQLite's write lock) and ONE
write (state, summary, last-seen time and the audit rows, fenced when leases are on)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update

from guard.core.audit import AuditEvent
from guard.core.domain import GuardState
from guard.store.codec import state_from_json
from guard.store.intent_records import NOT_FINAL, StoredIntent, in_flight, stored_intent
from guard.store.lease_queries import Fence, check_fence
from guard.store.locks import stored_lock
from guard.store.operator_requests import stored_request
from guard.store.records import RequestStatus, StoredLock, StoredRequest
from guard.store.rule_state import RuleState
from guard.store.tables import AccountRow, IntentRow, LockRow, RequestRow, StateRow, table_of

_STATE = table_of(StateRow)
_INTENTS = table_of(IntentRow)
_LOCKS = table_of(LockRow)
_REQUESTS = table_of(RequestRow)
_ACCOUNTS = table_of(AccountRow)

# built once: SQLAlchemy caches each statement's compiled form by its structure
_READ_STATE = select(_STATE.c.state).where(_STATE.c.account == bindparam("account"))
_READ_INTENTS = (
    select(_INTENTS)
    .where(_INTENTS.c.account == bindparam("account"), _INTENTS.c.status.in_(NOT_FINAL))
    .order_by(_INTENTS.c.created_at)
)
_READ_LOCKS = (
    select(_LOCKS)
    .where(
        _LOCKS.c.cleared_at.is_(None),
        _LOCKS.c.account.is_(None) | (_LOCKS.c.account == bindparam("account")),
    )
    .order_by(_LOCKS.c.id)
)
_READ_REQUESTS = (
    select(_REQUESTS)
    .where(
        _REQUESTS.c.account == bindparam("account"),
        _REQUESTS.c.status == RequestStatus.PENDING.value,
    )
    .order_by(_REQUESTS.c.id)
)
_SEEN = update(_ACCOUNTS).where(_ACCOUNTS.c.name == bindparam("account"))


@dataclass(frozen=True, slots=True)
class TickInputs:
    """Everything a tick reads from the store, as of one read transaction."""

    state: GuardState  # rule memory with the live (not dry-run) reductions in flight
    locks: tuple[StoredLock, ...]  # active at the read time and covering the account
    requests: tuple[StoredRequest, ...]  # the account's pending operator requests, oldest first
    intents: tuple[StoredIntent, ...]  # unresolved live intents, oldest first


class TickIO(RuleState):
    """The Store's tick read and tick write."""

    def read_tick(self, account: str, at: datetime) -> TickInputs:
        """One read transaction (deferred on SQLite: never waits for, or blocks, a writer);
        locks active at `at`, the wall clock."""
        params = {"account": account}
        with self.read_engine.connect() as conn, conn.begin():
            encoded = conn.execute(_READ_STATE, params).scalar()
            intents = tuple(
                i for i in map(stored_intent, conn.execute(_READ_INTENTS, params)) if not i.dry_run
            )
            locks = tuple(
                lock
                for lock in map(stored_lock, conn.execute(_READ_LOCKS, params))
                if lock.is_active(at)
            )
            requests = tuple(map(stored_request, conn.execute(_READ_REQUESTS, params)))
        state = state_from_json(encoded) if encoded is not None else GuardState()
        return TickInputs(state.with_in_flight(in_flight(intents)), locks, requests, intents)

    def load_state(self, account: str) -> GuardState:
        """The account's remembered state with the reductions now in flight."""
        params = {"account": account}
        with self.read_engine.connect() as conn, conn.begin():
            encoded = conn.execute(_READ_STATE, params).scalar()
            intents = list(map(stored_intent, conn.execute(_READ_INTENTS, params)))
        state = state_from_json(encoded) if encoded is not None else GuardState()
        return state.with_in_flight(in_flight(intents))

    def record_tick(
        self,
        account: str,
        tick_id: str,
        at: datetime,
        state: GuardState,
        summary: dict[str, Any],
        events: Sequence[AuditEvent],
        fence: Fence | None = None,
    ) -> None:
        """Save the next state, the tick summary, the account's last-seen time and the tick's
        audit rows in one transaction.

        With a `fence` (scale-out), LeaseLost is raised and nothing is written unless this
        replica still holds the account's lease with that token."""
        with self.engine.connect() as conn, conn.begin():
            if fence is not None:
                self._serialize(conn, account)
                check_fence(conn, account, fence)
            self._save_state(conn, account, state, at, tick_id, summary)
            conn.execute(_SEEN, {"account": account, "last_seen_at": at})
            self.append(conn, events, at)
