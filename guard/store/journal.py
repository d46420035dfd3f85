"""Local write-ahead journal for database outages: a Store that keeps protecting while the
database is unreachable and loses no audit event.

While the database is down, every write the service makes (intents, intent outcomes, tick state,
audit events) is appended to a local JSON-lines file, one fsync'ed line per write, and reads fall
back to what this process last read or wrote (locks, rule state, unresolved intents, breaker
window). On recovery the journal is flushed in order, one transaction per entry, before any other
write. Each flushed audit event carries an idempotency key (`_journal` = "<journal id>/<seq>" in
its payload), checked inside the entry's transaction, so a crash during the flush never writes an
entry twice; the first entry of an outage, whose original write may have committed just before
the connection dropped, is instead matched by content.

Trade-offs (see docs/reliability.md): during an outage the lock check uses the last locks read
before it, operator flatten requests are not picked up, and audit events reach the database (and
the hash chain) at flush time, in journal order, with their original timestamps.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlmodel import Session, col, select

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
from guard.store.codec import state_from_json, state_to_json, to_jsonable
from guard.store.leases import Fence
from guard.store.records import StoredLock, StoredRequest
from guard.store.store import (
    NOT_FINAL,
    Admission,
    Store,
    StoredIntent,
    _intent_event,
    _intent_row,
)
from guard.store.tables import AccountRow, AuditRow, IntentRow

T = TypeVar("T")
CONNECT_TIMEOUT = 3  # seconds, PostgreSQL connection attempts of a journaled store
JOURNAL_KEY = "_journal"  # payload key holding a flushed event's idempotency key


def is_outage(error: BaseException) -> bool:
    """Whether a database error means "unreachable" (journal it) rather than a bug (raise)."""
    if isinstance(error, OperationalError | InterfaceError):
        return True
    return isinstance(error, DBAPIError) and bool(error.connection_invalidated)


class JournalCorrupt(Exception):
    """The journal file cannot be read back; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One journaled write: its sequence number, operation, time and encoded arguments."""

    seq: int
    op: str
    at: datetime
    data: Mapping[str, Any]
    uncertain: bool = False  # the original write failed mid-way: it may have committed


class Journal:
    """An append-only JSON-lines file: a header naming the journal, entries, applied marks.

    Every line is flushed and fsync'ed before `append` returns. Once every entry is applied the
    file is replaced (atomically) by a fresh journal with a new id.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.id = ""
        self.entries: list[Entry] = []
        self.applied = 0
        if path.exists() and path.stat().st_size > 0:
            self._load()
        else:
            self._start()

    def _start(self) -> None:
        self.id = uuid.uuid4().hex[:16]
        self.entries = []
        self.applied = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fresh = self.path.with_name(self.path.name + ".new")
        with fresh.open("w", encoding="utf-8") as handle:
            handle.write(json.dumps({"journal": self.id}) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(fresh, self.path)
        _fsync_dir(self.path.parent)

    def _load(self) -> None:
        raw = self.path.read_bytes()
        if not raw.endswith(b"\n"):
            # a torn last line: its write never returned, so nothing relied on it; cut it off so
            # the next append starts on a fresh line
            raw = raw[: raw.rfind(b"\n") + 1]
            with self.path.open("r+b") as handle:
                handle.truncate(len(raw))
                handle.flush()
                os.fsync(handle.fileno())
        for number, line in enumerate(raw.decode("utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as error:
                raise JournalCorrupt(f"{self.path}:{number}: not JSON ({error.msg})") from error
            if "journal" in item:
                self.id = str(item["journal"])
            elif "applied" in item:
                self.applied = max(self.applied, int(item["applied"]))
            elif "seq" in item:
                self.entries.append(
                    Entry(
                        seq=int(item["seq"]),
                        op=str(item["op"]),
                        at=datetime.fromisoformat(item["at"]),
                        data=item["data"],
                        uncertain=bool(item.get("uncertain", False)),
                    )
                )
            else:
                raise JournalCorrupt(f"{self.path}:{number}: unknown line {line[:80]!r}")
        if not self.id:
            raise JournalCorrupt(f"{self.path}:1: no journal header")

    def _write(self, item: Mapping[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(item, sort_keys=True, separators=(",", ":")) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def append(self, op: str, at: datetime, data: Mapping[str, Any], uncertain: bool) -> Entry:
        seq = (self.entries[-1].seq if self.entries else 0) + 1
        entry = Entry(seq, op, at, data, uncertain)
        line: dict[str, Any] = {"seq": seq, "op": op, "at": at.isoformat(), "data": data}
        if uncertain:
            line["uncertain"] = True
        self._write(line)
        self.entries.append(entry)
        return entry

    def pending(self) -> list[Entry]:
        return [entry for entry in self.entries if entry.seq > self.applied]

    def mark_applied(self, seq: int) -> None:
        self._write({"applied": seq})
        self.applied = seq

    def restart(self) -> None:
        """Replace a fully applied journal by a fresh, empty one."""
        if self.pending():
            raise RuntimeError(f"{self.path}: {len(self.pending())} entries are not applied yet")
        self._start()

    def key(self, seq: int) -> str:
        return f"{self.id}/{seq}"


def _fsync_dir(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:  # not supported on this platform
        return
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


# ----- encoding ---------------------------------------------------------------------------------
def _event_data(event: AuditEvent) -> dict[str, Any]:
    return {
        "kind": event.kind.value,
        "message": event.message,
        "account": event.account,
        "symbol": event.symbol,
        "rule_id": event.rule_id,
        "tick_id": event.tick_id,
        "fingerprint": event.fingerprint,
        "actor": event.actor,
        "client_order_id": event.client_order_id,
        "payload": to_jsonable(dict(event.payload)),
    }


def _event_from(data: Mapping[str, Any], key: str | None) -> AuditEvent:
    payload = dict(data["payload"])
    if key is not None:
        payload[JOURNAL_KEY] = key
    return AuditEvent(
        EventKind(data["kind"]),
        data["message"],
        account=data["account"],
        symbol=data["symbol"],
        rule_id=data["rule_id"],
        tick_id=data["tick_id"],
        fingerprint=data["fingerprint"],
        actor=data["actor"],
        client_order_id=data["client_order_id"],
        payload=payload,
    )


def _plan_data(plan: OrderPlan) -> dict[str, Any]:
    return {
        "account": plan.account,
        "symbol": plan.symbol,
        "side": plan.side.value,
        "quantity": str(plan.quantity),
        "position_side": plan.position_side.value,
        "margin_mode": plan.margin_mode.value,
        "client_order_id": plan.client_order_id,
        "order_type": plan.order_type.value,
        "limit_price": None if plan.limit_price is None else str(plan.limit_price),
        "reduce_only": plan.reduce_only,
        "hedged": plan.hedged,
        "rule_ids": list(plan.rule_ids),
        "reason": plan.reason,
        "steps": list(plan.steps),
    }


def _plan_from(data: Mapping[str, Any]) -> OrderPlan:
    return OrderPlan(
        account=data["account"],
        symbol=data["symbol"],
        side=OrderSide(data["side"]),
        quantity=Decimal(data["quantity"]),
        position_side=Side(data["position_side"]),
        margin_mode=MarginMode(data["margin_mode"]),
        client_order_id=data["client_order_id"],
        order_type=OrderType(data["order_type"]),
        limit_price=None if data["limit_price"] is None else Decimal(data["limit_price"]),
        reduce_only=bool(data["reduce_only"]),
        hedged=bool(data["hedged"]),
        rule_ids=tuple(data["rule_ids"]),
        reason=data["reason"],
        steps=tuple(data["steps"]),
    )


def _result_data(result: OrderResult) -> dict[str, Any]:
    return {
        "client_order_id": result.client_order_id,
        "status": result.status.value,
        "filled_quantity": str(result.filled_quantity),
        "average_price": None if result.average_price is None else str(result.average_price),
        "fee": str(result.fee),
        "venue_order_id": result.venue_order_id,
        "message": result.message,
    }


def _result_from(data: Mapping[str, Any]) -> OrderResult:
    return OrderResult(
        client_order_id=data["client_order_id"],
        status=OrderStatus(data["status"]),
        filled_quantity=Decimal(data["filled_quantity"]),
        average_price=None if data["average_price"] is None else Decimal(data["average_price"]),
        fee=Decimal(data["fee"]),
        venue_order_id=data["venue_order_id"],
        message=data["message"],
    )


def _open_intent(
    plan: OrderPlan, status: OrderStatus, at: datetime, dry_run: bool, why: str
) -> StoredIntent:
    return StoredIntent(
        client_order_id=plan.client_order_id,
        account=plan.account,
        symbol=plan.symbol,
        side=plan.side.value,
        position_side=plan.position_side,
        quantity=plan.quantity,
        status=status,
        filled_quantity=ZERO,
        average_price=None,
        reason=plan.reason,
        rule_ids=plan.rule_ids,
        dry_run=dry_run,
        created_at=at,
        updated_at=at,
        message=why,
        margin_mode=plan.margin_mode,
        order_type=plan.order_type,
        limit_price=plan.limit_price,
        hedged=plan.hedged,
        steps=plan.steps,
    )


# ----- the journaled store ----------------------------------------------------------------------
class JournaledStore(Store):
    """A Store that journals the service's writes locally while the database is unreachable.

    Only the calls a tick makes are covered (intents, outcomes, tick state, audit, and the reads
    of locks, state, unresolved intents, requests and the breaker window); operator commands and
    housekeeping keep using the database directly and fail while it is down.
    """

    def __init__(
        self,
        url: str,
        journal: Path,
        *,
        probe_interval: float = 2.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if url.startswith("postgresql") and "connect_timeout" not in url:
            # a blackholed server must not stall the ticks for the OS's TCP timeout
            url += ("&" if "?" in url else "?") + f"connect_timeout={CONNECT_TIMEOUT}"
        super().__init__(url)
        self.journal = Journal(journal)
        self.probe_interval = probe_interval
        self.monotonic = monotonic
        self.down_since: float | None = None  # monotonic time the database was last seen down
        self.problem: str | None = None  # why the database is considered down
        self.outages = 0
        self.flushed = 0  # entries written to the database by flushes, in total
        self._probed_at = 0.0
        self._locks: list[StoredLock] | None = None  # every lock at the last read
        self._states: dict[str, GuardState] = {}
        self._open: dict[str, StoredIntent] = {}  # unresolved intents, by client id
        self._known_ids: set[str] = set()  # client ids this process has seen admitted
        self._window: dict[str, tuple[int, Decimal]] = {}  # breaker totals at the last read
        self._journaled_intents: list[StoredIntent] = []  # admitted while down

    # ----- availability -------------------------------------------------------------------
    @property
    def available(self) -> bool:
        return self.down_since is None and not self.journal.pending()

    def _went_down(self, error: BaseException) -> None:
        if self.down_since is None:
            self.outages += 1
        self.down_since = self._probed_at = self.monotonic()
        cause = getattr(error, "orig", None) or error
        first = (str(cause).strip().splitlines() or [""])[0][:200]
        what = "database unreachable" if is_outage(error) else "journal flush refused"
        self.problem = f"{what}: {type(cause).__name__}: {first}"

    def _ready(self) -> bool:
        """Whether the database may be used now (flushing the journal first when needed)."""
        if self.down_since is not None:
            if self.monotonic() - self._probed_at < self.probe_interval:
                return False
            self._probed_at = self.monotonic()
        if not self.journal.pending():
            return True
        try:
            self.flush()
        except Exception as error:  # down again, or an entry the database refuses: keep it
            self._went_down(error)
            return False
        return True

    def _attempt(self, call: Callable[[], T]) -> tuple[bool, T | None]:
        """(True, result) when `call` ran against the database; (False, None) when it is down."""
        if self._ready():
            try:
                value = call()
            except Exception as error:
                if not is_outage(error):
                    raise
                self._went_down(error)
            else:
                if self.down_since is not None:
                    self._came_up()
                return True, value
        return False, None

    def _came_up(self) -> None:
        self.down_since = None
        self.problem = None

    def _journal(self, op: str, at: datetime, data: Mapping[str, Any]) -> None:
        # the first entry after a failed write may duplicate a write that did commit
        uncertain = not self.journal.pending()
        self.journal.append(op, at, data, uncertain)

    # ----- flush ----------------------------------------------------------------------------
    def flush(self) -> int:
        """Write every pending journal entry to the database, in order; returns how many.

        One transaction per entry, each checked by its idempotency key first, so running the
        flush again after a crash skips what was already written. Raises on an outage.
        """
        written = 0
        for entry in self.journal.pending():
            with self.transaction() as session:
                self._serialize(session)
                if not self._applied(session, entry):
                    self._apply(session, entry)
                    written += 1
            self.journal.mark_applied(entry.seq)
        if self.journal.entries:
            self.journal.restart()
        self.flushed += written
        self._journaled_intents = []
        self._came_up()
        return written

    def _applied(self, session: Session, entry: Entry) -> bool:
        events = [_event_from(e, None) for e in entry.data.get("events", ())]
        if entry.op == "admit" and entry.data["intents"]:
            first = entry.data["intents"][0]["plan"]["client_order_id"]
            row = session.get(IntentRow, first)
            if row is not None and (row.tick_id, row.created_at) == (
                entry.data["tick_id"],
                entry.at,
            ):
                return True
        if not events:
            return False  # nothing appended: re-applying only sets the same values again
        key = self.journal.key(entry.seq)
        marked = session.exec(
            select(AuditRow.id)
            .where(AuditRow.at == entry.at, col(AuditRow.payload).contains(f'"{key}"'))
            .limit(1)
        ).first()
        if marked is not None:
            return True
        if entry.uncertain:
            first_event = events[0]
            same = session.exec(
                select(AuditRow.id)
                .where(
                    AuditRow.at == entry.at,
                    AuditRow.kind == first_event.kind.value,
                    AuditRow.message == first_event.message,
                    AuditRow.account == first_event.account,
                )
                .limit(1)
            ).first()
            return same is not None
        return False

    def _apply(self, session: Session, entry: Entry) -> None:
        key = self.journal.key(entry.seq)
        data = entry.data
        events = [_event_from(e, key) for e in data.get("events", ())]
        if entry.op == "admit":
            for item in data["intents"]:
                plan = _plan_from(item["plan"])
                known = session.get(IntentRow, plan.client_order_id)
                if known is not None and known.status == OrderStatus.SUPPRESSED.value:
                    session.delete(known)  # held back earlier, never sent: admitted now
                    session.flush()
                    known = None
                if known is None:
                    session.add(
                        _intent_row(
                            plan,
                            OrderStatus(item["status"]),
                            entry.at,
                            data["tick_id"],
                            data["actor"],
                            bool(data["dry_run"]),
                            item["why"],
                        )
                    )
            if data["state"] is not None:
                self._save_state(
                    session, data["account"], state_from_json(data["state"]), entry.at, None, None
                )
        elif entry.op == "update_intent":
            result = _result_from(data["result"])
            row = session.get(IntentRow, result.client_order_id)
            if row is None:
                events.append(
                    AuditEvent(
                        EventKind.ERROR,
                        f"journal {key}: intent {result.client_order_id} not in the database; "
                        f"its outcome {result.status.value} is kept in this event only",
                        client_order_id=result.client_order_id,
                        payload={JOURNAL_KEY: key},
                    )
                )
            else:
                row.status = result.status.value
                row.filled_quantity = result.filled_quantity
                row.average_price = result.average_price
                row.fee = result.fee
                row.venue_order_id = result.venue_order_id or row.venue_order_id
                row.message = result.message
                row.updated_at = entry.at
                session.add(row)
        elif entry.op == "record_tick":
            account = data["account"]
            self._save_state(
                session,
                account,
                state_from_json(data["state"]),
                entry.at,
                data["tick_id"],
                data["summary"],
            )
            seen = session.get(AccountRow, account)
            if seen is not None:
                seen.last_seen_at = entry.at
                session.add(seen)
        elif entry.op != "audit":
            raise JournalCorrupt(f"{self.journal.path}: entry {entry.seq}: unknown op {entry.op}")
        self.append(session, events, entry.at)

    # ----- writes ---------------------------------------------------------------------------
    def audit(self, events: Sequence[AuditEvent], at: datetime) -> list[int]:
        ok, ids = self._attempt(lambda: Store.audit(self, events, at))
        if ok:
            return ids or []
        if events:
            self._journal("audit", at, {"events": [_event_data(e) for e in events]})
        return []

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
        self._states[account] = state
        ok, _ = self._attempt(
            lambda: Store.record_tick(self, account, tick_id, at, state, summary, events, fence)
        )
        if ok:
            return
        self._journal(
            "record_tick",
            at,
            {
                "account": account,
                "tick_id": tick_id,
                "state": state_to_json(state),
                "summary": to_jsonable(summary),
                "events": [_event_data(e) for e in events],
            },
        )

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
        ok, admission = self._attempt(
            lambda: Store.admit(
                self,
                account,
                plans,
                at,
                tick_id=tick_id,
                fingerprint=fingerprint,
                actor=actor,
                dry_run=dry_run,
                state=state,
                events=events,
                override_locks=override_locks,
                fence=fence,
            )
        )
        if admission is None:
            admission = self._admit_locally(
                account,
                plans,
                at,
                tick_id,
                fingerprint,
                actor,
                dry_run,
                state,
                events,
                override_locks,
            )
        self._remember_admission(account, admission, at, dry_run, state, journaled=not ok)
        return admission

    def _remember_admission(
        self,
        account: str,
        admission: Admission,
        at: datetime,
        dry_run: bool,
        state: GuardState | None,
        *,
        journaled: bool,
    ) -> None:
        if state is not None:
            self._states[account] = state
        for plan in admission.admitted:  # a suppressed plan may be admitted later, same id
            self._known_ids.add(plan.client_order_id)
        if dry_run:
            return
        for plan in admission.admitted:
            intent = _open_intent(plan, OrderStatus.PENDING, at, dry_run, "")
            self._open[plan.client_order_id] = intent
            if journaled:
                self._journaled_intents.append(intent)

    def _admit_locally(
        self,
        account: str,
        plans: Sequence[OrderPlan],
        at: datetime,
        tick_id: str | None,
        fingerprint: str | None,
        actor: str,
        dry_run: bool,
        state: GuardState | None,
        events: Sequence[AuditEvent],
        override_locks: bool,
    ) -> Admission:
        """The admission decided from what this process knows (the last locks it read, the
        client ids it has seen), journaled for the flush."""
        admitted: list[OrderPlan] = []
        suppressed: list[tuple[OrderPlan, str]] = []
        duplicates: list[OrderPlan] = []
        audit: list[AuditEvent] = list(events)
        intents: list[dict[str, Any]] = []
        locks = sorted(
            (lock for lock in self._locks or () if lock.is_active(at)), key=lambda lock: lock.id
        )
        for plan in plans:
            if plan.client_order_id in self._known_ids:
                duplicates.append(plan)
                continue
            lock = next((lock for lock in locks if lock.covers(account, plan.symbol)), None)
            held = lock is not None and not override_locks
            status = (
                OrderStatus.SUPPRESSED
                if held
                else (OrderStatus.WOULD_PLACE if dry_run else OrderStatus.PENDING)
            )
            why = ""
            if held and lock is not None:
                why = (
                    f"held back by lock #{lock.id} ({lock.scope.value}, by {lock.actor}: "
                    f"{lock.reason}) [as last read before the database outage]"
                )
                suppressed.append((plan, why))
            else:
                admitted.append(plan)
            intents.append({"plan": _plan_data(plan), "status": status.value, "why": why})
            audit.append(_intent_event(plan, status, why, tick_id, fingerprint, actor))
        self._journal(
            "admit",
            at,
            {
                "account": account,
                "tick_id": tick_id,
                "actor": actor,
                "dry_run": dry_run,
                "state": None if state is None else state_to_json(state),
                "intents": intents,
                "events": [_event_data(e) for e in audit],
            },
        )
        return Admission(tuple(admitted), tuple(suppressed), tuple(duplicates))

    def update_intent(
        self, result: OrderResult, at: datetime, events: Sequence[AuditEvent] = ()
    ) -> None:
        self._remember_result(result, at)
        ok, _ = self._attempt(lambda: Store.update_intent(self, result, at, events))
        if ok:
            return
        self._journal(
            "update_intent",
            at,
            {"result": _result_data(result), "events": [_event_data(e) for e in events]},
        )

    def _remember_result(self, result: OrderResult, at: datetime) -> None:
        def updated(intent: StoredIntent) -> StoredIntent:
            return replace(
                intent,
                status=result.status,
                filled_quantity=result.filled_quantity,
                average_price=result.average_price,
                message=result.message,
                updated_at=at,
            )

        known = self._open.pop(result.client_order_id, None)
        if known is not None and result.status.value in NOT_FINAL:
            self._open[result.client_order_id] = updated(known)
        self._journaled_intents = [
            updated(i) if i.client_order_id == result.client_order_id else i
            for i in self._journaled_intents
        ]

    # ----- reads ----------------------------------------------------------------------------
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

    def load_state(self, account: str) -> GuardState:
        """The account's state; while down, the last state read or written by this process with
        the reductions this process knows to be in flight."""
        _, state = self._attempt(lambda: Store.load_state(self, account))
        if state is not None:
            self._states[account] = state
            return state
        base = self._states.get(account, GuardState())
        return base.with_in_flight(self._flights(account))

    def _flights(self, account: str) -> dict[PositionKey, Decimal]:
        flights: dict[PositionKey, Decimal] = {}
        for intent in self._open.values():
            if intent.account == account and not intent.dry_run:
                flights[intent.key] = (
                    flights.get(intent.key, ZERO) + intent.quantity - intent.filled_quantity
                )
        return flights

    def unresolved_intents(self, account: str | None = None) -> list[StoredIntent]:
        _, found = self._attempt(lambda: Store.unresolved_intents(self, account))
        if found is not None:
            for client_id in [
                c for c, i in self._open.items() if account is None or i.account == account
            ]:
                del self._open[client_id]
            for intent in found:
                self._open[intent.client_order_id] = intent
                self._known_ids.add(intent.client_order_id)
            return found
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
