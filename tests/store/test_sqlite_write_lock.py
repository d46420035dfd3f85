"""Another process holding SQLite's write lock (a backup, an operator's sqlite3 session) never
freezes the guard: reads do not need the lock, a write gives up within its bound, and the
journaled store protects from the journal at once, flushing when the lock is gone."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from guard.core.audit import AuditEvent, EventKind
from guard.core.domain import OrderStatus, Side
from guard.core.venues.paper import RULES
from guard.gateway.paper.book import SlippageModel
from guard.gateway.paper.path import PricePath
from guard.gateway.paper.venue import PaperVenue
from guard.service import AccountRuntime, GuardService
from guard.store import Store
from guard.store.journaled_store import JournaledStore
from tests.builders import T0, D, spec
from tests.reliability.test_fault_matrix import POLICY

BTC = "BTC/USDT:USDT"
BOUND = 0.3


@contextmanager
def write_lock_held(path: Path) -> Iterator[None]:
    """Hold the database's write lock from another connection, as `sqlite3 guard.db` would."""
    other = sqlite3.connect(path, isolation_level=None, timeout=5)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "guard.db"
    store = Store(f"sqlite:///{path}")
    store.create_schema()
    store.dispose()
    return path


def test_reads_when_write_lock_held_elsewhere_then_answered_at_once(db: Path) -> None:
    store = Store(f"sqlite:///{db}", write_timeout=BOUND)
    try:
        with write_lock_held(db):
            began = time.monotonic()
            store.load_state("a")
            store.read_tick("a", T0)
            store.locks(T0)
            store.unresolved_intents("a")
            store.pending_requests("a")
            store.tail(5)
            assert time.monotonic() - began < BOUND
    finally:
        store.dispose()


def test_write_when_write_lock_held_elsewhere_then_gives_up_within_bound(db: Path) -> None:
    store = Store(f"sqlite:///{db}", write_timeout=BOUND)
    try:
        with write_lock_held(db):
            began = time.monotonic()
            with pytest.raises(OperationalError, match="locked"):
                store.audit([AuditEvent(EventKind.ERROR, "x", account="a")], T0)
            waited = time.monotonic() - began
        assert BOUND * 0.8 <= waited < BOUND + 1.0
    finally:
        store.dispose()


async def test_tick_when_write_lock_held_elsewhere_then_protects_from_journal_and_flushes(
    db: Path, tmp_path: Path
) -> None:
    path = PricePath({BTC: tuple((T0 + timedelta(minutes=m), D(61000)) for m in range(30))})
    venue = PaperVenue({BTC: spec(BTC)}, path, slippage=SlippageModel(D(0), D(0)))
    venue.open_account("a", D(6000))
    venue.seed_position("a", BTC, Side.LONG, D(1), D(60000), D(10))
    store = JournaledStore(
        f"sqlite:///{db}", tmp_path / "journal.jsonl", probe_interval=1.0, write_timeout=BOUND
    )
    service = GuardService(
        store=store,
        accounts={"a": AccountRuntime("a", RULES, venue, POLICY)},
        clock=lambda: venue.now,
    )
    try:
        with write_lock_held(db):
            began = time.monotonic()
            report = await service.tick("a")
            took = time.monotonic() - began
        assert report.execution is not None and report.execution.sent == 1  # still protecting
        assert len(venue.accounts["a"].fills) == 1
        assert store.problem is not None and "locked" in store.problem
        assert took < 4 * BOUND + 1.0, f"the tick waited {took:.2f}s for another writer"
        time.sleep(1.1)  # the next probe of the database
        venue.advance_to(venue.now + timedelta(minutes=1))
        await service.tick("a")  # the lock is gone: the journal is flushed, nothing twice
        assert store.journal.pending() == []
        [intent] = store.intents("a")
        assert intent.status is OrderStatus.FILLED
        assert store.verify_chain()[0]
    finally:
        store.dispose()


async def test_tick_when_write_waits_for_another_writer_then_event_loop_keeps_running(
    db: Path,
) -> None:
    path = PricePath({BTC: tuple((T0 + timedelta(minutes=m), D(61000)) for m in range(30))})
    venue = PaperVenue({BTC: spec(BTC)}, path, slippage=SlippageModel(D(0), D(0)))
    venue.open_account("a", D(6000))
    venue.seed_position("a", BTC, Side.LONG, D(1), D(60000), D(10))
    store = Store(f"sqlite:///{db}", write_timeout=1.0)
    service = GuardService(
        store=store,
        accounts={"a": AccountRuntime("a", RULES, venue, POLICY)},
        clock=lambda: venue.now,
    )
    gaps: list[float] = []

    async def heartbeat() -> None:  # what every other account's tick would need: the loop
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(0.01)
            now = loop.time()
            gaps.append(now - last)
            last = now

    beating = asyncio.create_task(heartbeat())
    try:
        with write_lock_held(db):
            began = time.monotonic()
            report = await service.tick("a")  # its writes wait for the lock, then give up
            took = time.monotonic() - began
    finally:
        beating.cancel()
        service.db.close()
        store.dispose()
    assert report.error is not None and "locked" in report.error
    assert took >= 0.9  # the tick did wait on the database ...
    assert max(gaps) < 0.25, f"... and the loop stalled for {max(gaps):.2f}s"  # ... off the loop
