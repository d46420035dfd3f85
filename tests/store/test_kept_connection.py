"""The tick's read and write run on a connection each thread keeps between calls (issue 17: no
pool check-out, reset and check-in per transaction), on SQLite and on the journaled store's
PostgreSQL; a transaction that fails on a dead connection drops it, and the next call connects
afresh (what the pool's check-out did before)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError

from guard.core.domain import GuardState
from guard.store import Store
from guard.store.database import is_outage
from tests.conftest import _reset_postgres

AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def checkouts(store: Store) -> list[object]:
    seen: list[object] = []
    for engine in {store.engine, store.read_engine}:
        event.listen(engine, "checkout", lambda *_: seen.append(1))
    return seen


def test_read_and_record_tick_when_repeated_on_one_thread_then_no_check_out_after_the_first(
    sqlite_store: Store,
) -> None:
    sqlite_store.record_tick("acct", "t0", AT, GuardState(), {}, [])
    sqlite_store.read_tick("acct", AT)
    seen = checkouts(sqlite_store)
    for n in range(5):
        inputs = sqlite_store.read_tick("acct", AT)
        sqlite_store.record_tick("acct", f"t{n}", AT, inputs.state, {"n": n}, [])
    assert seen == []
    assert sqlite_store.summaries()["acct"]["n"] == 4  # every write committed


@pytest.fixture
def postgres_store(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Store]:
    url = request.getfixturevalue("postgres_url")
    _reset_postgres(url)
    store = Store(url, pre_ping=False)  # as the journaled store's: outages are journaled
    store.create_schema()
    yield store
    store.dispose()


@pytest.mark.postgres
def test_read_tick_when_its_kept_connection_died_then_one_outage_and_the_next_call_reconnects(
    postgres_store: Store,
) -> None:
    postgres_store.record_tick("acct", "t0", AT, GuardState(), {"n": 0}, [])
    postgres_store.read_tick("acct", AT)  # this thread now keeps a connection
    with postgres_store.engine.connect() as admin:  # the server drops every other session
        admin.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
        admin.commit()
    with pytest.raises(OperationalError) as failed:
        postgres_store.read_tick("acct", AT)
    assert is_outage(failed.value)  # the journaled store journals this one call
    inputs = postgres_store.read_tick("acct", AT)
    postgres_store.record_tick("acct", "t1", AT, inputs.state, {"n": 1}, [])
    assert postgres_store.summaries()["acct"]["n"] == 1
