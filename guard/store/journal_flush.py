"""The database side of the outage journal: detect an outage, journal writes while it lasts,
and on recovery flush every entry exactly once, in order, before any other write.

While the database is down, every write the service makes (intents, intent outcomes, tick state,
audit events) is appended to a local JSON-lines file, one checksummed line per write, written whole
and fsync'ed or not at all (a failed write raises JournalWriteFailed), and reads fall
back to what this process last read or wrote (locks, rule state, unresolved intents, breaker
window). On recovery the journal is flushed in order, one transaction per entry, before any other
write. Each flushed audit event carries an idempotency key (`_journal` = "<journal id>/<seq>" in
its payload), checked inside the entry's transaction, so a crash during the flush never writes an
entry twice; the first entry of an outage, whose original write may have committed just before
the connection dropped, is instead matched by content. Bytes of the file that recovery skipped
(torn or corrupt records) are audited by the first flush, one `error` event each.

Threads (the service's database workers): while the database answers and nothing is journaled
(`_up`), calls run side by side and no Python lock is held across a database call. Every other
call, the switch to and from the journal, each append and the flush run one at a time under the
journal lock (`_serial`): an outage is served as by one worker, so the flush stays exactly-once
and in order, and no write reaches the database before the journaled entries it follows. The
in-memory knowledge (guard.store.journal_reads) has its own short lock (`_memory`), never held
across database or file I/O.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import text
from sqlmodel import Session, col, select

from guard.core.audit import AuditEvent, EventKind
from guard.core.domain import OrderStatus
from guard.store.codec import state_from_json
from guard.store.database import SERVICE_CHAIN, chain_of, is_outage
from guard.store.intent_records import StoredIntent, intent_row
from guard.store.journal_codec import JOURNAL_KEY, event_from, plan_from, result_from
from guard.store.journal_file import Entry, Journal, JournalCorrupt
from guard.store.store import Store
from guard.store.tables import AccountRow, AuditRow, IntentRow

T = TypeVar("T")
CONNECT_TIMEOUT = 3  # seconds, PostgreSQL connection attempts of a journaled store
PROBE_WAIT = 0.5  # seconds a store call waits for a PostgreSQL probe (it goes on in the background)
FLUSH_STALL = 2.0  # seconds without an entry applied before the hang watchdog may cut a flush


class JournalFlush(Store):
    """A Store that tells when its database is unreachable, journals the writes routed to the
    journal meanwhile, and flushes them on recovery (the base of JournaledStore)."""

    def __init__(
        self,
        url: str,
        journal: Path,
        *,
        probe_interval: float = 2.0,
        monotonic: Callable[[], float] = time.monotonic,
        write_timeout: float = 30.0,
        pool_size: int = 5,
    ) -> None:
        if url.startswith("postgresql") and "connect_timeout" not in url:
            # a blackholed server must not stall the ticks for the OS's TCP timeout
            url += ("&" if "?" in url else "?") + f"connect_timeout={CONNECT_TIMEOUT}"
        super().__init__(url, write_timeout=write_timeout, pre_ping=False, pool_size=pool_size)
        self.journal = Journal(journal)
        self.probe_interval = probe_interval
        self.monotonic = monotonic
        self.down_since: float | None = None  # monotonic time the database was last seen down
        self.problem: str | None = None  # why the database is considered down
        self.outages = 0
        self.flushed = 0  # entries written to the database by flushes, in total
        self._probed_at = 0.0
        self._journaled_intents: list[StoredIntent] = []  # admitted while down (until a flush)
        self._unreported = bool(self.journal.recovery.skipped)  # audited by the next flush
        self._prober: ThreadPoolExecutor | None = None
        self._flushing = False
        self._holding = False  # a call runs under the journal lock (others may wait for it)
        self._progress_at = 0.0  # monotonic time a flush last started or applied an entry
        self._probe: Future[None] | None = None
        # what a start without the database left to do once it answers (schema check, account
        # registration), run before the flush
        self._before_flush: list[Callable[[], object]] = []
        self._serial = threading.RLock()  # the journal lock: journal mode runs one call at a time
        self._memory = threading.RLock()  # the in-memory knowledge (short; no I/O under it)
        # the database answers and nothing waits to be flushed: calls run side by side, without
        # the journal lock (set only under it; read without it)
        self._up = self._settled()

    # ----- availability -------------------------------------------------------------------
    @property
    def available(self) -> bool:
        return self.down_since is None and not self.journal.pending()

    def _settled(self) -> bool:
        """Up, nothing journaled, nothing left to do before a flush (under the journal lock)."""
        return (
            self.down_since is None
            and not self.journal.pending()
            and not self._unreported
            and not self._before_flush
        )

    def _went_down(self, error: BaseException) -> None:
        with self._serial:
            self._up = False
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
            if not self.is_sqlite and not self._probe_answered():
                return False
            self._probed_at = self.monotonic()
        if not self.journal.pending() and not self._unreported and not self._before_flush:
            return True
        try:
            self.flush()
        except Exception as error:  # down again, or an entry the database refuses: keep it
            self._went_down(error)
            return False
        return True

    def _probe_answered(self) -> bool:
        """PostgreSQL: probe with `SELECT 1` on a thread of its own, waiting at most PROBE_WAIT,
        so a server that hangs (blackholed) stalls no store call for its connect timeout; a hung
        probe is picked up by a later call once it ends."""
        if self._probe is None:
            self._prober = self._prober or ThreadPoolExecutor(1, thread_name_prefix="guard-probe")
            self._probe = self._prober.submit(self._ping)
            wait([self._probe], timeout=PROBE_WAIT)  # only when starting one: never per call
        if not self._probe.done():
            return False
        failed = self._probe.exception()
        self._probe = None
        if failed is not None:
            self._probed_at = self.monotonic()
            return False
        return True

    def interrupt(self) -> int:
        """Cut hung connections (Database.interrupt), unless a flush is running and applied an
        entry (or started) within FLUSH_STALL s: a long flush that progresses is not a hang. (The
        database thread asks every 10 ms past its bound; "an entry since the last call" cut a
        moving flush under load, and the store stayed on the journal after the outage.) Likewise
        a call that took the journal lock less than FLUSH_STALL s ago: the workers waiting for
        the lock are past their bound while it runs, not hung."""
        busy = self._flushing or self._holding
        if busy and self.monotonic() - self._progress_at < FLUSH_STALL:
            return 0
        return super().interrupt()

    def _ping(self) -> None:
        """SELECT 1; once more on a fresh connection when the pooled one was dead (no pre-ping:
        a server that restarted left the pool's connections closed)."""
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as error:
            if not is_outage(error):
                raise
            self.engine.dispose()
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))

    def _attempt(self, call: Callable[[], T]) -> tuple[bool, T | None]:
        """(True, result) when `call` ran against the database; (False, None) when it is down.
        Up: run without the journal lock (other workers' calls go on meanwhile); otherwise under
        it, probing and flushing first."""
        if self._up:
            try:
                return True, call()
            except Exception as error:
                if not is_outage(error):
                    raise
                self._went_down(error)  # the journal lock: every later call is serialized
                return False, None
        with self._serial:
            self._holding, self._progress_at = True, self.monotonic()
            try:
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
                        self._up = self._settled()
                        return True, value
                return False, None
            finally:
                self._holding = False

    def _came_up(self) -> None:
        with self._serial:
            self.down_since = None
            self.problem = None

    def _journal(self, op: str, at: datetime, data: Mapping[str, Any]) -> None:
        """Journal one write; raises JournalWriteFailed when it could not be made durable (the
        caller's write then failed: nothing may act on it). Under the journal lock: never while
        a flush runs (it would restart the journal under the entry), and the next call flushes
        it before any other write."""
        with self._serial:
            self._up = False
            # the first entry after a failed write may duplicate a write that did commit
            uncertain = not self.journal.pending()
            self.journal.append(op, at, data, uncertain)

    # ----- flush ----------------------------------------------------------------------------
    def flush(self) -> int:
        """Write every pending journal entry to the database, in order; returns how many.

        One transaction per entry, each checked by its idempotency key first, so running the
        flush again after a crash skips what was already written. Raises on an outage.
        """
        with self._serial:
            self._flushing, self._progress_at = True, self.monotonic()
            try:
                return self._flush()
            finally:
                self._flushing = False

    def _flush(self) -> int:
        written = 0
        while self._before_flush:
            self._before_flush[0]()  # raises (down again, schema refused): kept for next time
            self._before_flush.pop(0)
        if self._unreported:
            self._report_recovery()
        for entry in self.journal.pending():
            with self.transaction() as session:
                self._serialize(session, *_chains(entry))
                if not self._applied(session, entry):
                    self._apply(session, entry)
                    written += 1
            self.journal.mark_applied(entry.seq)
            self._progress_at = self.monotonic()  # the hang watchdog leaves a moving flush alone
        if self.journal.entries or self.journal.recovery.skipped:
            self.journal.restart()
        self.flushed += written
        with self._memory:
            self._journaled_intents = []
        self._came_up()
        self._up = self._settled()
        return written

    def _report_recovery(self) -> None:
        """Audit what opening the journal skipped: file, line, byte offset, length and why."""
        recovery = self.journal.recovery
        events = [
            AuditEvent(
                EventKind.ERROR,
                f"journal recovery: {skip.describe(recovery.path)}; every complete record kept",
                payload={
                    "file": str(recovery.path),
                    "line": skip.line,
                    "offset": skip.offset,
                    "length": skip.length,
                    "reason": skip.reason,
                },
            )
            for skip in recovery.skipped
        ]
        with self.transaction() as session:
            self._serialize(session, SERVICE_CHAIN)
            self.append(session, events, datetime.now(UTC))
        self._unreported = False

    def _applied(self, session: Session, entry: Entry) -> bool:
        events = [event_from(e, None) for e in entry.data.get("events", ())]
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
        events = [event_from(e, key) for e in data.get("events", ())]
        if entry.op == "admit":
            for item in data["intents"]:
                plan = plan_from(item["plan"])
                known = session.get(IntentRow, plan.client_order_id)
                if known is not None and known.status == OrderStatus.SUPPRESSED.value:
                    session.delete(known)  # held back earlier, never sent: admitted now
                    session.flush()
                    known = None
                if known is None:
                    session.add(
                        intent_row(
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
            result = result_from(data["result"])
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


def _chains(entry: Entry) -> set[str]:
    """The audit chains an entry's flush writes to (its account's and its events')."""
    chains = {chain_of(event.get("account")) for event in entry.data.get("events", ())}
    if entry.data.get("account") is not None:
        chains.add(entry.data["account"])
    return chains
