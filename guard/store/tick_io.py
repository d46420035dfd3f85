"""The tick's two database round trips in SQLAlchemy Core (database I/O): ONE read (rule state
with the reductions in flight, the locks covering the account, its pending operator requests and
unresolved intents, in one deferred transaction that never takes SQLite's write lock) and ONE
write (state, summary, last-seen time and the audit rows, fenced when leases are on)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, exists, literal_column, select, update
from sqlalchemy.sql.elements import BindParameter

from guard.core.audit import AuditEvent
from guard.core.domain import GuardState
from guard.store.codec import state_from_json
from guard.store.intent_records import NOT_FINAL, StoredIntent, in_flight, stored_intent
from guard.store.lease_queries import Fence, check_fence
from guard.store.locks import stored_lock
from guard.store.operator_requests import stored_request
from guard.store.prepared import Prepared
from guard.store.records import RequestStatus, StoredLock, StoredRequest
from guard.store.rule_state import RuleState
from guard.store.tables import AccountRow, IntentRow, LockRow, RequestRow, StateRow, table_of

_STATE = table_of(StateRow)
_INTENTS = table_of(IntentRow)
_LOCKS = table_of(LockRow)
_REQUESTS = table_of(RequestRow)
_ACCOUNTS = table_of(AccountRow)

# built once: SQLAlchemy caches each statement's compiled form by its structure
_ACCOUNT: BindParameter[Any] = bindparam("account")
_OPEN_INTENTS = (
    _INTENTS.c.account == _ACCOUNT,
    _INTENTS.c.status.in_([literal_column(f"'{status}'") for status in NOT_FINAL]),
)
_UNCLEARED_LOCKS = (
    _LOCKS.c.cleared_at.is_(None),
    _LOCKS.c.account.is_(None) | (_LOCKS.c.account == _ACCOUNT),
)
_PENDING_REQUESTS = (
    _REQUESTS.c.account == _ACCOUNT,
    _REQUESTS.c.status == literal_column(f"'{RequestStatus.PENDING.value}'"),
)
_READ_STATE = Prepared(select(_STATE.c.state).where(_STATE.c.account == _ACCOUNT))
# one round trip in the steady state: the state, and whether there is anything else to read
_READ_HEAD = Prepared(
    select(
        select(_STATE.c.state).where(_STATE.c.account == _ACCOUNT).scalar_subquery().label("state"),
        exists().where(*_OPEN_INTENTS).label("intents"),
        exists().where(*_UNCLEARED_LOCKS).label("locks"),
        exists().where(*_PENDING_REQUESTS).label("requests"),
    )
)
_READ_INTENTS = Prepared(select(_INTENTS).where(*_OPEN_INTENTS).order_by(_INTENTS.c.created_at))
_READ_LOCKS = Prepared(select(_LOCKS).where(*_UNCLEARED_LOCKS).order_by(_LOCKS.c.id))
_READ_REQUESTS = Prepared(select(_REQUESTS).where(*_PENDING_REQUESTS).order_by(_REQUESTS.c.id))
_SEEN = Prepared(
    update(_ACCOUNTS)
    .where(_ACCOUNTS.c.name == bindparam("account"))
    .values(last_seen_at=bindparam("seen_at", type_=_ACCOUNTS.c.last_seen_at.type))
)


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
        intents: tuple[StoredIntent, ...] = ()
        locks: tuple[StoredLock, ...] = ()
        requests: tuple[StoredRequest, ...] = ()
        with self.kept(write=False) as conn:
            (head,) = _READ_HEAD.rows(conn, params)
            if head.intents:
                intents = tuple(
                    i for i in map(stored_intent, _READ_INTENTS.rows(conn, params)) if not i.dry_run
                )
            if head.locks:
                locks = tuple(
                    lock
                    for lock in map(stored_lock, _READ_LOCKS.rows(conn, params))
                    if lock.is_active(at)
                )
            if head.requests:
                requests = tuple(map(stored_request, _READ_REQUESTS.rows(conn, params)))
        state = state_from_json(head.state) if head.state is not None else GuardState()
        return TickInputs(state.with_in_flight(in_flight(intents)), locks, requests, intents)

    def load_state(self, account: str) -> GuardState:
        """The account's remembered state with the reductions now in flight."""
        params = {"account": account}
        with self.read_engine.connect() as conn, conn.begin():
            encoded = _READ_STATE.rows(conn, params)
            intents = list(map(stored_intent, _READ_INTENTS.rows(conn, params)))
        state = state_from_json(encoded[0].state) if encoded else GuardState()
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
        with self.kept(write=True) as conn:
            if fence is not None:
                self._serialize(conn, account)
                check_fence(conn, account, fence)
            self._save_state(conn, account, state, at, tick_id, summary)
            _SEEN.count(conn, {"account": account, "seen_at": at})
            self.append(conn, events, at)
