"""The journaled store with several database workers on PostgreSQL: a private cluster is stopped
while many accounts' ticks are in flight on 8 workers, and started again while they tick. Every
tick is audited exactly once, each account's events stay in its tick order, the flush writes each
journaled entry once, the chain verifies, no order is sent twice; a call that arrives while a flush
runs waits for it (never flushes again, never writes ahead of it); a read of every account's locks
that overlaps an account's own read keeps that account's fresher lock (the offline gate honours it).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from guard.core.audit import AuditEvent, EventKind
from guard.core.domain import OrderStatus, Side
from guard.core.venues.paper import RULES
from guard.gateway.faults import FaultyGateway
from guard.gateway.paper.book import SlippageModel
from guard.gateway.paper.path import PricePath
from guard.gateway.paper.venue import PaperVenue
from guard.service import AccountRuntime, GuardService, RailSettings
from guard.service.db_thread import DatabaseThread, routed, worker_of
from guard.store import Store
from guard.store.journal_codec import JOURNAL_KEY, event_data
from guard.store.journal_file import Journal
from guard.store.journaled_store import JournaledStore
from tests.builders import T0, D, spec
from tests.reliability.pgcluster import PgCluster
from tests.reliability.test_database_outage import BREAKERS, BTC, POLICY, PRICES

ACCOUNTS = [f"acct-{i:02d}" for i in range(16)]
WORKERS = 8
ROUNDS = 12  # minute 0 (12 % band) and minute 6 (9 % band) breach; the outage spans minute 6


@dataclass
class Fleet:
    venue: PaperVenue
    store: JournaledStore
    service: GuardService

    async def round(self, *alongside: asyncio.Future[None]) -> None:
        """Every account's tick at once (on the workers), with `alongside` (a stop or start of
        the server) in the middle of them; then one minute on."""
        await asyncio.gather(*(self.service.tick(a) for a in ACCOUNTS), *alongside)
        self.venue.advance_to(self.venue.now + timedelta(minutes=1))

    def fills(self, account: str) -> list[str]:
        return [f.client_order_id for f in self.venue.accounts[account].fills]


@pytest.fixture
def fleet(pg: PgCluster, tmp_path: Path) -> Iterator[Fleet]:
    path = PricePath({BTC: tuple((T0 + timedelta(minutes=m), D(p)) for m, p in enumerate(PRICES))})
    venue = PaperVenue({BTC: spec(BTC)}, path, slippage=SlippageModel(D(0), D(0)))
    for account in ACCOUNTS:
        venue.open_account(account, D(6000))
        venue.seed_position(account, BTC, Side.LONG, D(1), D(60000), D(10))
    gateway = FaultyGateway(venue, latency=0.05)  # ticks long enough to span a stop or start
    store = JournaledStore(
        pg.url, tmp_path / "journal.jsonl", probe_interval=0, pool_size=WORKERS + 2
    )
    store.create_schema()
    service = GuardService(
        store=store,
        accounts={a: AccountRuntime(a, RULES, gateway, POLICY) for a in ACCOUNTS},
        clock=lambda: venue.now,
        rails=RailSettings(breakers=BREAKERS),
        db=DatabaseThread(workers=WORKERS),
    )
    yield Fleet(venue, store, service)
    service.db.close()
    store.dispose()


def _later(call: object, delay: float) -> asyncio.Future[None]:
    async def run() -> None:
        await asyncio.sleep(delay)
        await asyncio.to_thread(call)  # type: ignore[arg-type]

    return asyncio.ensure_future(run())


async def test_outage_mid_round_when_8_workers_tick_16_accounts_then_each_tick_once_in_order(
    fleet: Fleet, pg: PgCluster
) -> None:
    for _ in range(2):
        await fleet.round()
    await fleet.round(_later(pg.stop, 0.01))  # stopped while this round's ticks are running
    for _ in range(4):  # minutes 3..6 on the journal (minute 6: the 9 % band for every account)
        await fleet.round()
        assert fleet.store.down_since is not None
    journaled = len(fleet.store.journal.pending())
    assert journaled >= 4 * len(ACCOUNTS)
    await fleet.round(_later(pg.start, 0.01))  # back while this round's ticks are running
    for _ in range(ROUNDS - 8):
        await fleet.round()
    store = fleet.store
    assert store.available and store.journal.pending() == []
    assert store.outages == 1
    assert store.flushed >= journaled

    events = list(store.events())
    every = [(e.kind, e.account, e.tick_id, e.message, e.at) for e in events]
    assert len(every) == len(set(every))  # nothing written twice
    keys = Counter(
        (e.payload[JOURNAL_KEY], e.kind, e.account, e.message)
        for e in events
        if JOURNAL_KEY in e.payload
    )
    assert keys and max(keys.values()) == 1  # each journaled event flushed exactly once
    for account in ACCOUNTS:
        mine = [e for e in events if e.account == account]
        ticks = [e.tick_id for e in mine if e.kind == EventKind.EVALUATION.value]
        assert len(ticks) == ROUNDS and len(set(ticks)) == ROUNDS, account  # none lost
        assert ticks == sorted(ticks), account  # the account's ticks in order on its chain
        moments = [e.at for e in mine]
        assert moments == sorted(moments), account  # no write ahead of a journaled one
        fills = fleet.fills(account)
        assert len(fills) == len(set(fills)) == 2, account  # both bands, none sent twice
        intents = store.intents(account)
        assert sorted(i.client_order_id for i in intents) == sorted(fills), account
        assert {i.status for i in intents} == {OrderStatus.FILLED}, account
    ok, _, summary = store.verify_chain()
    assert ok, summary


def test_call_during_flush_when_another_worker_writes_then_it_waits_and_nothing_twice(
    pg: PgCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = JournaledStore(pg.url, tmp_path / "journal.jsonl", probe_interval=0)
    store.create_schema()
    try:
        pg.stop()
        for minute in range(6):
            at = T0 + timedelta(minutes=minute)
            store.audit([AuditEvent(EventKind.ERROR, f"down {minute}", account="a")], at)
        assert len(store.journal.pending()) == 6
        pg.start()
        inside, release = threading.Event(), threading.Event()
        original = Journal.mark_applied

        def held_at_first(journal: Journal, seq: int) -> None:
            original(journal, seq)
            if not inside.is_set():
                inside.set()  # the flush has applied entry 1 of 6: another worker calls now
                release.wait(10)

        monkeypatch.setattr(Journal, "mark_applied", held_at_first)
        late = T0 + timedelta(minutes=9)
        flusher = threading.Thread(target=lambda: store.audit([_event("up 1")], late))
        writer = threading.Thread(target=lambda: store.audit([_event("up 2")], late))
        flusher.start()
        assert inside.wait(10)
        writer.start()
        time.sleep(0.3)  # the writer's call is made while the flush is held
        written_meanwhile = [e.message for e in store.events() if e.message == "up 2"]
        release.set()
        flusher.join(10)
        writer.join(10)
        assert written_meanwhile == []  # it waited for the flush
        messages = [e.message for e in store.events()]
        assert messages[:6] == [f"down {m}" for m in range(6)]  # flushed once, in order
        assert sorted(messages[6:]) == ["up 1", "up 2"]
        assert store.journal.pending() == [] and store.available
        ok, _, summary = store.verify_chain()
        assert ok, summary
    finally:
        store.dispose()


def _event(message: str) -> AuditEvent:
    return AuditEvent(EventKind.ERROR, message, account="b")


def routed_to(db: DatabaseThread, worker: int) -> contextlib.AbstractContextManager[None]:
    """Calls made inside the block run on `worker` (an account name that maps to it)."""
    return routed(next(a for a in ACCOUNTS if worker_of(a, db.workers) == worker))


def test_all_locks_read_when_an_account_reads_a_new_lock_meanwhile_then_it_is_kept(
    pg: PgCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = JournaledStore(pg.url, tmp_path / "journal.jsonl", probe_interval=0)
    store.create_schema()
    try:
        store.locks(T0)  # nothing locked yet
        read, release = threading.Event(), threading.Event()
        original = Store.locks

        def slow_locks(self: Store, *args: object, **kwargs: object) -> object:
            found = original(self, *args, **kwargs)  # type: ignore[arg-type]
            read.set()  # housekeeping's read of every lock is done, not yet remembered
            release.wait(10)
            return found

        monkeypatch.setattr(Store, "locks", slow_locks)
        housekeeping = threading.Thread(target=lambda: store.locks(T0))
        housekeeping.start()
        assert read.wait(10)
        monkeypatch.setattr(Store, "locks", original)
        store.set_lock(reason="hedging", actor="ops", at=T0, account="a")
        inputs = store.read_tick("a", T0 + timedelta(seconds=1))  # the account's tick sees it
        assert [lock.reason for lock in inputs.locks] == ["hedging"]
        release.set()
        housekeeping.join(10)
        pg.stop()  # the offline reads now answer from memory: the lock is still known
        offline = store.read_tick("a", T0 + timedelta(seconds=2))
        assert store.down_since is not None
        assert [lock.reason for lock in offline.locks] == ["hedging"]
    finally:
        store.dispose()


async def test_worker_waiting_for_journal_lock_when_past_bound_then_holder_not_cut(
    pg: PgCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = JournaledStore(pg.url, tmp_path / "journal.jsonl", probe_interval=0)
    store.create_schema()
    db = DatabaseThread(0.3, store.interrupt, workers=2)
    try:
        pg.stop()
        store.audit([_event("down")], T0)  # on the journal: the next call takes the journal lock
        pg.start()
        original, marked = Store.audit, Journal.mark_applied

        def slow_flush(journal: Journal, seq: int) -> None:
            time.sleep(0.3)  # a flush that moves (the watchdog leaves it alone)
            marked(journal, seq)

        def slow(self: Store, events: list[AuditEvent], at: object) -> list[int]:
            if events[0].message == "up 1":  # the call that flushed: slow, but answering
                with self.engine.connect() as connection:
                    connection.execute(text("SELECT pg_sleep(0.6)"))
            return original(self, events, at)  # type: ignore[arg-type]

        monkeypatch.setattr(Journal, "mark_applied", slow_flush)
        monkeypatch.setattr(Store, "audit", slow)
        late = T0 + timedelta(minutes=1)
        holder = asyncio.ensure_future(asyncio.to_thread(store.audit, [_event("up 1")], late))
        await asyncio.sleep(0.1)
        # arrives during the flush, so waits for the journal lock past its 0.3 s bound while
        # the flushing call's own write runs
        with routed_to(db, 1):
            await db.run(store.audit, [_event("up 2")], late)
        await holder
        assert store.outages == 1, store.problem  # the holder's call was not cut as a hang
        assert [e.message for e in store.events()] == ["down", "up 1", "up 2"]
        assert store.available
    finally:
        db.close()
        store.dispose()


def test_append_when_a_flush_runs_then_waits_and_is_flushed_after(
    pg: PgCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = JournaledStore(pg.url, tmp_path / "journal.jsonl", probe_interval=0)
    store.create_schema()
    try:
        pg.stop()
        for minute in range(3):
            store.audit([_event(f"down {minute}")], T0 + timedelta(minutes=minute))
        pg.start()
        inside, release, appended = threading.Event(), threading.Event(), threading.Event()
        original = Journal.mark_applied

        def held_at_first(journal: Journal, seq: int) -> None:
            original(journal, seq)
            if not inside.is_set():
                inside.set()
                release.wait(10)

        monkeypatch.setattr(Journal, "mark_applied", held_at_first)
        late = T0 + timedelta(minutes=5)
        flusher = threading.Thread(target=lambda: store.audit([_event("up")], late))
        flusher.start()
        assert inside.wait(10)

        def journal_late_write() -> None:
            # another worker's write that met the outage before the flush began (its
            # `_attempt` failed), journaled now: it must not land in the file being flushed
            store._journal("audit", late, {"events": [_event_data("late")]})
            appended.set()

        writer = threading.Thread(target=journal_late_write)
        writer.start()
        time.sleep(0.3)
        appended_during_flush = appended.is_set()
        release.set()
        flusher.join(10)
        writer.join(10)
        assert not appended_during_flush  # it waited for the flush to replace the file
        assert store.outages == 1 and store.problem is None  # the flush was not refused
        store.audit([_event("next")], late)  # the next call flushes the late entry first
        messages = [e.message for e in store.events()]
        assert messages == ["down 0", "down 1", "down 2", "up", "late", "next"]
        assert store.journal.pending() == []
        ok, _, summary = store.verify_chain()
        assert ok, summary
    finally:
        store.dispose()


def _event_data(message: str) -> dict[str, object]:
    return event_data(_event(message))
