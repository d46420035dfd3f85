"""PostgreSQL: writers of different accounts do not wait for each other (per-chain locks), while
a lock change still waits for every admission in flight and is seen by every later one."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from guard.core.audit import AuditEvent, EventKind
from guard.core.domain import OrderStatus
from guard.store import Store
from guard.store.tables import LockRow
from tests.conftest import _reset_postgres
from tests.store.test_locks import admit, plan

pytestmark = pytest.mark.postgres
T0 = datetime(2024, 8, 5, tzinfo=UTC)
BOUND = 2.0  # seconds: far above one commit, far below "waited for the other transaction"


@pytest.fixture
def pg_store(postgres_url: str) -> Iterator[Store]:
    _reset_postgres(postgres_url)
    store = Store(postgres_url)
    store.create_schema()
    yield store
    store.dispose()


def in_thread(call: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    done: list[object] = []

    def run() -> None:
        done.append(call())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, done


def hold_account(store: Store, account: str, started: threading.Event, release: threading.Event):  # type: ignore[no-untyped-def]
    """An account's write transaction kept open with its chain lock taken and a row appended."""
    with store.transaction() as session:
        store._serialize(session, account)
        store.append(session, [AuditEvent(EventKind.ALERT, "held", account=account)], T0)
        started.set()
        release.wait(10)


def test_admit_when_another_account_holds_its_chain_then_commits_without_waiting(
    pg_store: Store,
) -> None:
    started, release = threading.Event(), threading.Event()
    holder, _ = in_thread(lambda: hold_account(pg_store, "acct-a", started, release))
    assert started.wait(5)
    began = time.monotonic()
    writer, done = in_thread(lambda: admit(pg_store, plan("b-1", account="acct-b")))
    writer.join(BOUND)
    took = time.monotonic() - began
    release.set()
    holder.join(5)
    assert done and took < BOUND, f"account b's admission waited {took:.2f}s for account a"
    pg_store.audit([AuditEvent(EventKind.ALERT, "after", account="acct-b")], T0)
    assert pg_store.verify_chain()[0]


def test_record_tick_when_another_account_holds_its_write_then_commits_without_waiting(
    pg_store: Store,
) -> None:
    started, release = threading.Event(), threading.Event()
    holder, _ = in_thread(lambda: hold_account(pg_store, "acct-a", started, release))
    assert started.wait(5)
    began = time.monotonic()
    inputs = pg_store.read_tick("acct-b", T0)  # a read never waits for a writer either
    event = AuditEvent(EventKind.EVALUATION, "tick", account="acct-b")
    writer, done = in_thread(
        lambda: pg_store.record_tick("acct-b", "b@1", T0, inputs.state, {}, [event])
    )
    writer.join(BOUND)
    took = time.monotonic() - began
    release.set()
    holder.join(5)
    assert done and took < BOUND, f"account b's tick waited {took:.2f}s for account a"
    assert pg_store.verify_chain()[0]


def test_audit_when_the_same_account_holds_its_chain_then_it_waits_for_the_commit(
    pg_store: Store,
) -> None:
    started, release = threading.Event(), threading.Event()
    holder, _ = in_thread(lambda: hold_account(pg_store, "acct-a", started, release))
    assert started.wait(5)
    event = AuditEvent(EventKind.ALERT, "second", account="acct-a")
    writer, done = in_thread(lambda: pg_store.audit([event], T0))
    writer.join(0.5)
    assert not done, "a second writer of the same chain did not wait for the first"
    release.set()
    holder.join(5)
    writer.join(5)
    assert done
    assert pg_store.verify_chain()[0]


def test_set_lock_when_an_admission_holds_the_shared_locks_key_then_it_waits(
    pg_store: Store,
) -> None:
    started, release = threading.Event(), threading.Event()
    holder, _ = in_thread(lambda: hold_account(pg_store, "acct-a", started, release))
    assert started.wait(5)
    setter, done = in_thread(
        lambda: pg_store.set_lock(reason="pause", actor="ops", at=datetime.now(UTC))
    )
    setter.join(0.5)
    assert not done, "a lock change did not wait for an account's transaction in flight"
    release.set()
    holder.join(5)
    setter.join(5)
    assert done
    assert pg_store.verify_chain()[0]


def test_admit_when_a_lock_commits_while_it_waits_then_it_sees_the_lock(pg_store: Store) -> None:
    started, release = threading.Event(), threading.Event()

    def lock_change() -> None:
        with pg_store.transaction() as session:
            pg_store._serialize(session, locks=True)
            session.add(
                LockRow(
                    scope="account",
                    account="acct-b",
                    reason="hold",
                    actor="ops",
                    created_at=T0,
                )
            )
            session.flush()
            started.set()
            release.wait(10)

    locker, _ = in_thread(lock_change)
    assert started.wait(5)
    writer, done = in_thread(lambda: admit(pg_store, plan("b-1", account="acct-b")))
    writer.join(0.5)
    assert not done, "an admission did not wait for the lock change in flight"
    release.set()
    locker.join(5)
    writer.join(5)
    assert done
    (suppressed,) = pg_store.intents("acct-b")
    assert suppressed.status == OrderStatus.SUPPRESSED.value
