"""The Store: every database read and write of the guard. Audit rows are append-only and
hash-chained; the lock check and the intent row are written in one transaction."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import event, func, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, create_engine, select

from guard.core.audit import AuditEvent, EventKind
from guard.core.domain import (
    ZERO,
    GuardState,
    MarginMode,
    OrderPlan,
    OrderResult,
    OrderSide,
    OrderStatus,
    OrderType,
    PositionKey,
    Side,
)
from guard.store import migrate
from guard.store.codec import state_from_json, state_to_json, to_jsonable
from guard.store.leases import Fence, check_fence
from guard.store.records import (
    EXPIRY_ACTOR,
    AccountInfo,
    AccountStatus,
    LockScope,
    RequestStatus,
    StoredAccount,
    StoredLock,
    StoredRequest,
)
from guard.store.tables import AccountRow, AuditRow, IntentRow, LockRow, RequestRow, StateRow

GENESIS = "0" * 64
CHAIN_LOCK_KEY = 7_305_001  # PostgreSQL advisory lock serialising audit appends
NOT_FINAL = (
    OrderStatus.PENDING.value,
    OrderStatus.SENT.value,
    OrderStatus.ACKNOWLEDGED.value,
    OrderStatus.UNKNOWN.value,
)


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An audit row as read back."""

    id: int
    at: datetime
    kind: str
    account: str | None
    symbol: str | None
    rule_id: str | None
    tick_id: str | None
    fingerprint: str | None
    actor: str
    client_order_id: str | None
    message: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class StoredIntent:
    """An order intent as read back."""

    client_order_id: str
    account: str
    symbol: str
    side: str
    position_side: Side
    quantity: Decimal
    status: OrderStatus
    filled_quantity: Decimal
    average_price: Decimal | None
    reason: str
    rule_ids: tuple[str, ...]
    dry_run: bool
    created_at: datetime
    updated_at: datetime
    message: str
    margin_mode: MarginMode
    order_type: OrderType
    limit_price: Decimal | None
    hedged: bool
    steps: tuple[str, ...]

    @property
    def key(self) -> PositionKey:
        return PositionKey(self.symbol, self.position_side)

    def as_plan(self, quantity: Decimal) -> OrderPlan:
        """The plan this intent was written for, with `quantity` (clipped by the caller)."""
        return OrderPlan(
            account=self.account,
            symbol=self.symbol,
            side=OrderSide(self.side),
            quantity=quantity,
            position_side=self.position_side,
            margin_mode=self.margin_mode,
            client_order_id=self.client_order_id,
            order_type=self.order_type,
            limit_price=self.limit_price,
            reduce_only=True,
            hedged=self.hedged,
            rule_ids=self.rule_ids,
            reason=self.reason,
            steps=self.steps,
        )


@dataclass(frozen=True, slots=True)
class Admission:
    """What the intent transaction decided for each plan."""

    admitted: tuple[OrderPlan, ...]
    suppressed: tuple[tuple[OrderPlan, str], ...]  # (plan, why: the lock or rail that held it)
    duplicates: tuple[OrderPlan, ...]  # client id already known: never sent twice


def row_hash(prev_hash: str, row: AuditRow) -> str:
    """sha256 over the previous hash and the row's content (everything but id and hashes)."""
    content = json.dumps(
        [
            prev_hash,
            row.at.isoformat(),
            row.kind,
            row.account,
            row.symbol,
            row.rule_id,
            row.tick_id,
            row.fingerprint,
            row.actor,
            row.client_order_id,
            row.message,
            row.payload,
        ],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(content.encode()).hexdigest()


class Store:
    """Database access for the service and the CLI (SQLite by default, PostgreSQL in production)."""

    problem: str | None = None  # why the database is unusable now (set by a JournaledStore)

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.engine: Engine = self._make_engine(url)

    def _make_engine(self, url: str) -> Engine:
        if not self.is_sqlite:
            return create_engine(url, pool_pre_ping=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Any) -> None:
            # IMMEDIATE takes the write lock up front: the audit chain reads its tip and appends
            # in one transaction, and a deferred upgrade could deadlock against another writer.
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine

    def create_schema(self) -> None:
        """Bring the schema to the newest migration (tests and the demo); same as `upgrade`."""
        self.upgrade()

    # ----- migrations ----------------------------------------------------------------------
    @property
    def where(self) -> str:
        """The database URL with any password hidden (for messages)."""
        return self.engine.url.render_as_string(hide_password=True)

    def upgrade(self, revision: str = "head") -> str | None:
        """Run the packaged migrations up to `revision`; returns the revision now current."""
        return migrate.upgrade(self.engine, revision)

    def downgrade(self, revision: str) -> str | None:
        return migrate.downgrade(self.engine, revision)

    def current_revision(self) -> str | None:
        return migrate.current_revision(self.engine)

    @staticmethod
    def head_revision() -> str:
        return migrate.head_revision()

    def require_migrated(self) -> str:
        """Raise SchemaNotReady (saying to run `guard db upgrade`) unless at the head revision."""
        return migrate.require_migrated(self.engine, self.where)

    def dispose(self) -> None:
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    # ----- audit ---------------------------------------------------------------------------
    def _serialize(self, session: Session) -> None:
        """Order this transaction with every other writer of the audit chain and the locks.

        SQLite: BEGIN IMMEDIATE already holds the single write lock. PostgreSQL: a transaction
        advisory lock, taken before reading locks, so an intent admitted after a lock's commit
        always sees that lock (and their audit ids follow commit order).
        """
        if not self.is_sqlite:
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK_KEY})

    def _chain_tip(self, session: Session) -> str:
        self._serialize(session)
        last = session.exec(
            select(AuditRow.hash).order_by(col(AuditRow.id).desc()).limit(1)
        ).first()
        return last or GENESIS

    def append(self, session: Session, events: Sequence[AuditEvent], at: datetime) -> list[int]:
        """Append events inside `session`'s transaction, chaining each to the previous row."""
        if not events:
            return []
        prev = self._chain_tip(session)
        rows: list[AuditRow] = []
        for item in events:
            row = AuditRow(
                at=at,
                kind=item.kind.value,
                account=item.account,
                symbol=item.symbol,
                rule_id=item.rule_id,
                tick_id=item.tick_id,
                fingerprint=item.fingerprint,
                actor=item.actor,
                client_order_id=item.client_order_id,
                message=item.message,
                payload=json.dumps(to_jsonable(dict(item.payload)), sort_keys=True),
                prev_hash=prev,
                hash="",
            )
            row.hash = row_hash(prev, row)
            prev = row.hash
            session.add(row)
            rows.append(row)
        session.flush()
        return [row.id for row in rows if row.id is not None]

    def audit(self, events: Sequence[AuditEvent], at: datetime) -> list[int]:
        with self.transaction() as session:
            return self.append(session, events, at)

    def tail(
        self,
        limit: int = 20,
        account: str | None = None,
        kind: str | None = None,
        since: datetime | None = None,
    ) -> list[StoredEvent]:
        """The newest `limit` events matching the filters, oldest first."""
        with Session(self.engine) as session:
            query = select(AuditRow)
            if account is not None:
                query = query.where(AuditRow.account == account)
            if kind is not None:
                query = query.where(AuditRow.kind == kind)
            if since is not None:
                query = query.where(col(AuditRow.at) >= since)
            rows = session.exec(query.order_by(col(AuditRow.id).desc()).limit(limit)).all()
            return [_event(row) for row in reversed(rows)]

    def event(self, event_id: int) -> StoredEvent | None:
        with Session(self.engine) as session:
            row = session.get(AuditRow, event_id)
            return _event(row) if row is not None else None

    def events(self, after_id: int = 0, batch: int = 1000) -> Iterator[StoredEvent]:
        """Every event in id order, read in batches."""
        last = after_id
        while True:
            with Session(self.engine) as session:
                rows = session.exec(
                    select(AuditRow)
                    .where(col(AuditRow.id) > last)
                    .order_by(col(AuditRow.id))
                    .limit(batch)
                ).all()
            if not rows:
                return
            for row in rows:
                yield _event(row)
            last = rows[-1].id or last

    def count_events(self, kind: str | None = None, account: str | None = None) -> int:
        with Session(self.engine) as session:
            query = select(func.count()).select_from(AuditRow)
            if kind is not None:
                query = query.where(AuditRow.kind == kind)
            if account is not None:
                query = query.where(AuditRow.account == account)
            return int(session.exec(query).one())

    def verify_chain(self) -> tuple[bool, int | None, str]:
        """(True, None, summary) when intact; else (False, first bad id, what is wrong)."""
        prev = GENESIS
        previous_id = 0
        count = 0
        with Session(self.engine) as session:
            rows = session.exec(select(AuditRow).order_by(col(AuditRow.id)))
            for row in rows:
                assert row.id is not None
                if row.prev_hash != prev:
                    return (
                        False,
                        row.id,
                        (
                            f"row {row.id}: its prev_hash does not match row {previous_id}'s hash "
                            "(a row before it was deleted or edited)"
                        ),
                    )
                if row_hash(prev, row) != row.hash:
                    return (
                        False,
                        row.id,
                        f"row {row.id}: its content does not match its hash (edited)",
                    )
                prev = row.hash
                previous_id = row.id
                count += 1
        return True, None, f"{count} rows, chain intact"

    # ----- state ---------------------------------------------------------------------------
    def load_state(self, account: str) -> GuardState:
        """The account's remembered state with the reductions now in flight."""
        with Session(self.engine) as session:
            row = session.get(StateRow, account)
            state = state_from_json(row.state) if row is not None else GuardState()
            flights = self._in_flight(session, account)
        return state.with_in_flight(flights)

    def _in_flight(self, session: Session, account: str) -> dict[PositionKey, Decimal]:
        rows = session.exec(
            select(IntentRow).where(
                IntentRow.account == account,
                col(IntentRow.status).in_(NOT_FINAL),
                IntentRow.dry_run == False,  # noqa: E712
            )
        ).all()
        flights: dict[PositionKey, Decimal] = {}
        for row in rows:
            key = PositionKey(row.symbol, Side(row.position_side))
            flights[key] = flights.get(key, ZERO) + row.quantity - row.filled_quantity
        return flights

    def _save_state(
        self,
        session: Session,
        account: str,
        state: GuardState,
        at: datetime,
        tick_id: str | None,
        summary: dict[str, Any] | None,
    ) -> None:
        row = session.get(StateRow, account)
        encoded = state_to_json(state)
        summary_text = json.dumps(to_jsonable(summary or {}), sort_keys=True)
        if row is None:
            row = StateRow(account=account, state=encoded, updated_at=at, summary=summary_text)
        else:
            row.state = encoded
            row.updated_at = at
            if summary is not None:
                row.summary = summary_text
        if tick_id is not None:
            row.last_tick_id = tick_id
            row.last_tick_at = at
        session.add(row)

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
        """Save the next state, the tick summary and the tick's audit rows in one transaction.

        With a `fence` (scale-out), LeaseLost is raised and nothing is written unless this
        replica still holds the account's lease with that token."""
        with self.transaction() as session:
            if fence is not None:
                self._serialize(session)
                check_fence(session, account, fence)
            self._save_state(session, account, state, at, tick_id, summary)
            seen = session.get(AccountRow, account)
            if seen is not None:
                seen.last_seen_at = at
                session.add(seen)
            self.append(session, events, at)

    def window_totals(self, since: datetime) -> dict[str, tuple[int, Decimal]]:
        """Per account: orders sent since `since` and their notional (for the breakers)."""
        from guard.store.service_queries import window_totals  # imports this module

        return window_totals(self, since)

    def summaries(self) -> dict[str, dict[str, Any]]:
        with Session(self.engine) as session:
            rows = session.exec(select(StateRow)).all()
            return {
                row.account: {
                    **json.loads(row.summary),
                    "last_tick_at": row.last_tick_at,
                    "last_tick_id": row.last_tick_id,
                }
                for row in rows
            }

    # ----- intents -------------------------------------------------------------------------
    def admit(
        self,
        account: str,
        plans: Sequence[OrderPlan],
        at: datetime,
        *,
        tick_id: str | None,
        fingerprint: str | None,
        actor: str,
        dry_run: bool,
        state: GuardState | None,
        events: Sequence[AuditEvent] = (),
        override_locks: bool = False,
        fence: Fence | None = None,
    ) -> Admission:
        """One transaction: check locks, skip known client ids, write intents, save state, audit.

        An active lock covering the account or market suppresses the plan (audited, naming the
        lock) unless `override_locks` (a human's flatten). A plan whose client id is already
        known is a duplicate and is never admitted again — unless that intent was suppressed
        (never sent), in which case it is re-admitted under the same client id. With a `fence`
        (scale-out), LeaseLost is raised and nothing is written unless this replica still holds
        the account's lease with that token.
        """
        admitted: list[OrderPlan] = []
        suppressed: list[tuple[OrderPlan, str]] = []
        duplicates: list[OrderPlan] = []
        audit: list[AuditEvent] = list(events)
        with self.transaction() as session:
            self._serialize(session)
            if fence is not None:
                check_fence(session, account, fence)
            locks = self._active_locks(session, account, at)
            for plan in plans:
                known = session.get(IntentRow, plan.client_order_id)
                if known is not None and known.status != OrderStatus.SUPPRESSED.value:
                    duplicates.append(plan)
                    continue
                if known is not None:
                    # held back by a lock earlier and never sent: it may go now (same client id)
                    session.delete(known)
                    session.flush()
                lock = _covering(locks, plan.symbol)
                held = lock is not None and not override_locks
                status = (
                    OrderStatus.SUPPRESSED
                    if held
                    else (OrderStatus.WOULD_PLACE if dry_run else OrderStatus.PENDING)
                )
                why = (
                    f"held back by lock #{lock.id} ({lock.scope}, by {lock.actor}: {lock.reason})"
                    if held and lock is not None
                    else ""
                )
                session.add(_intent_row(plan, status, at, tick_id, actor, dry_run, why))
                audit.append(_intent_event(plan, status, why, tick_id, fingerprint, actor))
                if held:
                    suppressed.append((plan, why))
                else:
                    admitted.append(plan)
            if state is not None:
                self._save_state(session, account, state, at, None, None)
            self.append(session, audit, at)
        return Admission(tuple(admitted), tuple(suppressed), tuple(duplicates))

    def update_intent(
        self, result: OrderResult, at: datetime, events: Sequence[AuditEvent] = ()
    ) -> None:
        with self.transaction() as session:
            row = session.get(IntentRow, result.client_order_id)
            if row is None:
                raise KeyError(f"no order intent with client id {result.client_order_id}")
            row.status = result.status.value
            row.filled_quantity = result.filled_quantity
            row.average_price = result.average_price
            row.fee = result.fee
            row.venue_order_id = result.venue_order_id or row.venue_order_id
            row.message = result.message
            row.updated_at = at
            session.add(row)
            self.append(session, events, at)

    def intents(
        self, account: str | None = None, statuses: Sequence[str] | None = None
    ) -> list[StoredIntent]:
        with Session(self.engine) as session:
            query = select(IntentRow)
            if account is not None:
                query = query.where(IntentRow.account == account)
            if statuses is not None:
                query = query.where(col(IntentRow.status).in_(list(statuses)))
            rows = session.exec(query.order_by(col(IntentRow.created_at))).all()
            return [_stored_intent(row) for row in rows]

    def unresolved_intents(self, account: str | None = None) -> list[StoredIntent]:
        """Intents whose outcome is not final (pending, sent, acknowledged, unknown), not dry-run."""
        return [i for i in self.intents(account, NOT_FINAL) if not i.dry_run]

    # ----- locks ---------------------------------------------------------------------------
    def _active_locks(self, session: Session, account: str, at: datetime) -> list[LockRow]:
        rows = session.exec(
            select(LockRow).where(
                col(LockRow.cleared_at).is_(None),
                (col(LockRow.account).is_(None)) | (LockRow.account == account),
            )
        ).all()
        return [row for row in rows if row.expires_at is None or row.expires_at > at]

    # ----- accounts ------------------------------------------------------------------------
    def register_accounts(self, accounts: Sequence[AccountInfo], at: datetime) -> None:
        """Record (or refresh) the accounts a starting service guards; the CLI's known names."""
        with self.transaction() as session:
            self._serialize(session)  # replicas starting together register the same names
            for info in accounts:
                row = session.get(AccountRow, info.name)
                if row is None:
                    row = AccountRow(
                        name=info.name,
                        venue=info.venue,
                        dry_run=info.dry_run,
                        poll_interval=info.poll_interval,
                        registered_at=at,
                    )
                else:
                    row.venue = info.venue
                    row.dry_run = info.dry_run
                    row.poll_interval = info.poll_interval
                    row.registered_at = at
                session.add(row)

    def accounts(self) -> list[StoredAccount]:
        with Session(self.engine) as session:
            rows = session.exec(select(AccountRow).order_by(col(AccountRow.name))).all()
            return [_stored_account(row) for row in rows]

    def check_account(self, account: str) -> str | None:
        """Raise UnknownAccount for a name no service registered; a warning (str) when no
        service has registered any account yet (then every name is accepted)."""
        known = [a.name for a in self.accounts()]
        if not known:
            return (
                f"no accounts registered yet (the service registers them when it starts): "
                f"accepting {account!r} unchecked"
            )
        if account not in known:
            raise UnknownAccount(f"unknown account {account!r}; known accounts: {', '.join(known)}")
        return None

    # ----- override locks ------------------------------------------------------------------
    def set_lock(
        self,
        *,
        reason: str,
        actor: str,
        at: datetime,
        account: str | None = None,
        market: str | None = None,
        expires_at: datetime | None = None,
    ) -> StoredLock:
        """Take an override lock (global, account, or account+market), audited as lock_set."""
        if not reason.strip():
            raise InvalidRequest("a lock needs a reason")
        if market is not None and account is None:
            raise InvalidRequest("a market lock needs its account (--account)")
        if expires_at is not None and expires_at <= at:
            raise InvalidRequest(
                f"expiry {expires_at.isoformat()} is not after now {at.isoformat()}"
            )
        scope = (
            LockScope.GLOBAL
            if account is None
            else (LockScope.ACCOUNT if market is None else LockScope.MARKET)
        )
        with self.transaction() as session:
            self._serialize(session)
            row = LockRow(
                scope=scope.value,
                account=account,
                market=market,
                reason=reason.strip(),
                actor=actor,
                created_at=at,
                expires_at=expires_at,
            )
            session.add(row)
            session.flush()
            lock = _stored_lock(row)
            self.append(session, [_lock_event(EventKind.LOCK_SET, lock, actor, "set")], at)
        return lock

    def lock(self, lock_id: int) -> StoredLock | None:
        with Session(self.engine) as session:
            row = session.get(LockRow, lock_id)
            return _stored_lock(row) if row is not None else None

    def locks(self, at: datetime, *, include_inactive: bool = False) -> list[StoredLock]:
        """Active locks as of `at` (or every lock ever taken, with `include_inactive`), by id."""
        with Session(self.engine) as session:
            rows = session.exec(select(LockRow).order_by(col(LockRow.id))).all()
            found = [_stored_lock(row) for row in rows]
        return found if include_inactive else [lock for lock in found if lock.is_active(at)]

    def clear_lock(
        self, lock_id: int, *, actor: str, at: datetime, reason: str | None = None
    ) -> StoredLock:
        """Clear one lock by id (audited as lock_cleared); LockNotFound / InvalidRequest."""
        with self.transaction() as session:
            self._serialize(session)
            row = session.get(LockRow, lock_id)
            if row is None:
                raise LockNotFound(f"no lock with id {lock_id} (see `guard locks --all`)")
            current = _stored_lock(row)
            if not current.is_active(at):
                when = current.cleared_at or current.expires_at
                by = f" by {current.cleared_by}" if current.cleared_by else ""
                raise InvalidRequest(
                    f"lock #{lock_id} is already {current.state(at)}{by}"
                    + (f" at {when.isoformat()}" if when is not None else "")
                )
            cleared = self._clear(session, row, actor, at, reason)
        return cleared

    def clear_locks(
        self,
        *,
        actor: str,
        at: datetime,
        account: str | None = None,
        market: str | None = None,
        reason: str | None = None,
    ) -> list[StoredLock]:
        """Clear the active locks of exactly this scope (no account: the global locks)."""
        with self.transaction() as session:
            self._serialize(session)
            rows = session.exec(
                select(LockRow)
                .where(
                    col(LockRow.cleared_at).is_(None),
                    col(LockRow.account).is_(None)
                    if account is None
                    else LockRow.account == account,
                    col(LockRow.market).is_(None) if market is None else LockRow.market == market,
                )
                .order_by(col(LockRow.id))
            ).all()
            return [
                self._clear(session, row, actor, at, reason)
                for row in rows
                if _stored_lock(row).is_active(at)
            ]

    def _clear(
        self, session: Session, row: LockRow, actor: str, at: datetime, reason: str | None
    ) -> StoredLock:
        row.cleared_at = at
        row.cleared_by = actor
        row.clear_reason = reason
        session.add(row)
        lock = _stored_lock(row)
        self.append(session, [_lock_event(EventKind.LOCK_CLEARED, lock, actor, "cleared")], at)
        return lock

    def expire_locks(self, now: datetime, actor: str = "guard") -> list[StoredLock]:
        """Mark locks whose expiry has passed, auditing each as lock_expired exactly once."""
        with self.transaction() as session:
            self._serialize(session)
            rows = session.exec(
                select(LockRow)
                .where(
                    col(LockRow.cleared_at).is_(None),
                    col(LockRow.expires_at).is_not(None),
                    col(LockRow.expires_at) <= now,
                )
                .order_by(col(LockRow.id))
            ).all()
            expired: list[StoredLock] = []
            for row in rows:
                row.cleared_at = row.expires_at
                row.cleared_by = EXPIRY_ACTOR
                row.clear_reason = "expired"
                session.add(row)
                expired.append(_stored_lock(row))
            self.append(
                session,
                [_lock_event(EventKind.LOCK_EXPIRED, lock, actor, "expired") for lock in expired],
                now,
            )
        return expired

    # ----- operator requests ---------------------------------------------------------------
    def request_flatten(
        self,
        *,
        account: str,
        fraction: Decimal,
        reason: str,
        actor: str,
        at: datetime,
        market: str | None = None,
    ) -> int:
        """Queue a flatten for the service (audited as flatten_requested); returns its id."""
        if not reason.strip():
            raise InvalidRequest("a flatten needs a reason")
        if not ZERO < fraction <= 1:
            raise InvalidRequest(f"fraction must be in (0, 1], got {fraction}")
        with self.transaction() as session:
            row = RequestRow(
                kind="flatten",
                account=account,
                market=market,
                fraction=fraction,
                reason=reason.strip(),
                actor=actor,
                created_at=at,
                status=RequestStatus.PENDING.value,
            )
            session.add(row)
            session.flush()
            request = _stored_request(row)
            target = market or "every position"
            self.append(
                session,
                [
                    AuditEvent(
                        EventKind.FLATTEN_REQUESTED,
                        f"flatten #{request.id} requested by {actor}: reduce {target} "
                        f"by {fraction} — {request.reason}",
                        account=account,
                        symbol=market,
                        actor=actor,
                        payload=_request_payload(request),
                    )
                ],
                at,
            )
        return request.id

    def request(self, request_id: int) -> StoredRequest | None:
        with Session(self.engine) as session:
            row = session.get(RequestRow, request_id)
            return _stored_request(row) if row is not None else None

    def pending_requests(self, account: str | None = None) -> list[StoredRequest]:
        """Requests the service has not carried out yet, oldest first."""
        with Session(self.engine) as session:
            query = select(RequestRow).where(RequestRow.status == RequestStatus.PENDING.value)
            if account is not None:
                query = query.where(RequestRow.account == account)
            rows = session.exec(query.order_by(col(RequestRow.id))).all()
            return [_stored_request(row) for row in rows]

    def complete_request(
        self,
        request_id: int,
        outcome: str,
        at: datetime,
        *,
        failed: bool = False,
        actor: str = "guard",
        tick_id: str | None = None,
    ) -> StoredRequest:
        """Mark a pending request done (or failed) with its outcome, once; audited."""
        with self.transaction() as session:
            row = session.get(RequestRow, request_id)
            if row is None:
                raise InvalidRequest(f"no operator request with id {request_id}")
            if row.status != RequestStatus.PENDING.value:
                raise InvalidRequest(
                    f"operator request #{request_id} is already {row.status}: {row.outcome}"
                )
            row.status = (RequestStatus.FAILED if failed else RequestStatus.DONE).value
            row.outcome = outcome
            row.completed_at = at
            session.add(row)
            request = _stored_request(row)
            self.append(
                session,
                [
                    AuditEvent(
                        EventKind.FLATTEN_COMPLETED,
                        f"flatten #{request_id} {request.status.value}: {outcome}",
                        account=request.account,
                        symbol=request.market,
                        tick_id=tick_id,
                        actor=actor,
                        payload=_request_payload(request),
                    )
                ],
                at,
            )
        return request

    # ----- status --------------------------------------------------------------------------
    def status(self, now: datetime) -> list[AccountStatus]:
        """Every registered or ticked account as `guard status` shows it, by name."""
        registered = {a.name: a for a in self.accounts()}
        summaries = self.summaries()
        active = self.locks(now)
        pending = self.unresolved_intents()
        requests = self.pending_requests()
        rows: list[AccountStatus] = []
        for name in sorted(set(registered) | set(summaries)):
            account = registered.get(name)
            summary = summaries.get(name, {})
            locks = tuple(lock for lock in active if lock.covers(name))
            dry_run = account.dry_run if account is not None else False
            if any(lock.scope is LockScope.GLOBAL for lock in locks):
                mode = "paused"
            elif locks:
                mode = "locked"
            else:
                mode = "dry-run" if dry_run else "active"
            last: datetime | None = summary.get("last_tick_at")
            rows.append(
                AccountStatus(
                    name=name,
                    venue=account.venue if account is not None else None,
                    dry_run=dry_run,
                    mode=mode,
                    last_tick_at=last,
                    tick_age=now - last if last is not None else None,
                    equity=_decimal_or_none(summary.get("equity")),
                    margin_ratio=_decimal_or_none(summary.get("margin_ratio")),
                    worst_liquidation_distance=_decimal_or_none(
                        summary.get("worst_liquidation_distance")
                    ),
                    open_breaches=int(summary.get("open_breaches") or 0),
                    pending_intents=sum(1 for i in pending if i.account == name),
                    pending_requests=sum(1 for r in requests if r.account == name),
                    locks=locks,
                )
            )
        return rows


class StoreError(Exception):
    """An operator-facing refusal of the store; the message says what is wrong."""


class InvalidRequest(StoreError, ValueError):
    """A request that cannot be carried out as given (missing reason, bad scope, not active)."""


class LockNotFound(StoreError, LookupError):
    """No lock with that id."""


class UnknownAccount(StoreError, LookupError):
    """An account name no service has registered."""


def _decimal_or_none(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _stored_account(row: AccountRow) -> StoredAccount:
    return StoredAccount(
        name=row.name,
        venue=row.venue,
        dry_run=row.dry_run,
        poll_interval=row.poll_interval,
        registered_at=row.registered_at,
        last_seen_at=row.last_seen_at,
    )


def _stored_lock(row: LockRow) -> StoredLock:
    assert row.id is not None
    return StoredLock(
        id=row.id,
        scope=LockScope(row.scope),
        account=row.account,
        market=row.market,
        reason=row.reason,
        actor=row.actor,
        created_at=row.created_at,
        expires_at=row.expires_at,
        cleared_at=row.cleared_at,
        cleared_by=row.cleared_by,
        clear_reason=row.clear_reason,
    )


def _lock_event(kind: EventKind, lock: StoredLock, actor: str, verb: str) -> AuditEvent:
    return AuditEvent(
        kind,
        f"lock #{lock.id} on {lock.target} {verb} by {actor}: {lock.reason}"
        + (f" (cleared: {lock.clear_reason})" if verb == "cleared" and lock.clear_reason else ""),
        account=lock.account,
        symbol=lock.market,
        actor=actor,
        payload={
            "lock_id": lock.id,
            "scope": lock.scope.value,
            "reason": lock.reason,
            "set_by": lock.actor,
            "created_at": lock.created_at,
            "expires_at": lock.expires_at,
            "cleared_at": lock.cleared_at,
            "clear_reason": lock.clear_reason,
        },
    )


def _stored_request(row: RequestRow) -> StoredRequest:
    assert row.id is not None
    return StoredRequest(
        id=row.id,
        kind=row.kind,
        account=row.account,
        market=row.market,
        fraction=row.fraction,
        reason=row.reason,
        actor=row.actor,
        created_at=row.created_at,
        status=RequestStatus(row.status),
        outcome=row.outcome,
        completed_at=row.completed_at,
    )


def _request_payload(request: StoredRequest) -> dict[str, Any]:
    return {
        "request_id": request.id,
        "market": request.market,
        "fraction": request.fraction,
        "reason": request.reason,
        "requested_by": request.actor,
        "status": request.status.value,
        "outcome": request.outcome,
    }


def _covering(locks: Sequence[LockRow], symbol: str) -> LockRow | None:
    for lock in sorted(locks, key=lambda row: row.id or 0):
        if lock.market is None or lock.market == symbol:
            return lock
    return None


def _intent_row(
    plan: OrderPlan,
    status: OrderStatus,
    at: datetime,
    tick_id: str | None,
    actor: str,
    dry_run: bool,
    message: str,
) -> IntentRow:
    return IntentRow(
        client_order_id=plan.client_order_id,
        account=plan.account,
        symbol=plan.symbol,
        side=plan.side.value,
        position_side=plan.position_side.value,
        margin_mode=plan.margin_mode.value,
        order_type=plan.order_type.value,
        quantity=plan.quantity,
        limit_price=plan.limit_price,
        reduce_only=plan.reduce_only,
        hedged=plan.hedged,
        status=status.value,
        filled_quantity=ZERO,
        fee=ZERO,
        rule_ids=json.dumps(list(plan.rule_ids)),
        steps=json.dumps(list(plan.steps)),
        reason=plan.reason,
        message=message,
        tick_id=tick_id,
        actor=actor,
        dry_run=dry_run,
        created_at=at,
        updated_at=at,
    )


def plan_payload(plan: OrderPlan) -> dict[str, Any]:
    return {
        "side": plan.side.value,
        "quantity": plan.quantity,
        "position_side": plan.position_side.value,
        "margin_mode": plan.margin_mode.value,
        "order_type": plan.order_type.value,
        "limit_price": plan.limit_price,
        "reduce_only": plan.reduce_only,
        "rule_ids": list(plan.rule_ids),
        "steps": list(plan.steps),
        "reason": plan.reason,
    }


def _intent_event(
    plan: OrderPlan,
    status: OrderStatus,
    why: str,
    tick_id: str | None,
    fingerprint: str | None,
    actor: str,
) -> AuditEvent:
    kind = {
        OrderStatus.SUPPRESSED: EventKind.ORDER_SUPPRESSED,
        OrderStatus.WOULD_PLACE: EventKind.ORDER_WOULD_PLACE,
    }.get(status, EventKind.INTENT)
    verb = {
        EventKind.ORDER_SUPPRESSED: "suppressed",
        EventKind.ORDER_WOULD_PLACE: "would place",
        EventKind.INTENT: "intent",
    }[kind]
    message = (
        f"{verb}: reduce-only {plan.side.value} {plan.quantity} {plan.symbol} "
        f"({plan.order_type.value}) — {plan.reason}"
    )
    if why:
        message += f" — {why}"
    return AuditEvent(
        kind=kind,
        message=message,
        account=plan.account,
        symbol=plan.symbol,
        rule_id=",".join(plan.rule_ids) or None,
        tick_id=tick_id,
        fingerprint=fingerprint,
        actor=actor,
        client_order_id=plan.client_order_id,
        payload=plan_payload(plan),
    )


def _event(row: AuditRow) -> StoredEvent:
    assert row.id is not None
    return StoredEvent(
        id=row.id,
        at=row.at,
        kind=row.kind,
        account=row.account,
        symbol=row.symbol,
        rule_id=row.rule_id,
        tick_id=row.tick_id,
        fingerprint=row.fingerprint,
        actor=row.actor,
        client_order_id=row.client_order_id,
        message=row.message,
        payload=json.loads(row.payload),
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def _stored_intent(row: IntentRow) -> StoredIntent:
    return StoredIntent(
        client_order_id=row.client_order_id,
        account=row.account,
        symbol=row.symbol,
        side=row.side,
        position_side=Side(row.position_side),
        quantity=row.quantity,
        status=OrderStatus(row.status),
        filled_quantity=row.filled_quantity,
        average_price=row.average_price,
        reason=row.reason,
        rule_ids=tuple(json.loads(row.rule_ids)),
        dry_run=row.dry_run,
        created_at=row.created_at,
        updated_at=row.updated_at,
        message=row.message,
        margin_mode=MarginMode(row.margin_mode),
        order_type=OrderType(row.order_type),
        limit_price=row.limit_price,
        hedged=row.hedged,
        steps=tuple(json.loads(row.steps)),
    )
