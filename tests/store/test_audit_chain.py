"""The audit log is append-only (triggers) and hash-chained (an edit or deletion is detected)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import DBAPIError

from guard.core.audit import AuditEvent, EventKind
from guard.store import Store
from tests.store.tamper import drop_append_only_guards, execute

T0 = datetime(2024, 8, 5, tzinfo=UTC)


def fill(store: Store, count: int = 5) -> list[int]:
    ids: list[int] = []
    for index in range(count):
        ids += store.audit(
            [
                AuditEvent(
                    EventKind.ALERT,
                    f"event {index}",
                    account="acct",
                    payload={"n": index, "price": "60000.1"},
                )
            ],
            T0 + timedelta(seconds=index),
        )
    return ids


def test_verify_when_untouched_then_intact(any_store: Store) -> None:
    fill(any_store)
    assert any_store.verify_chain() == (True, None, "5 rows, chain intact")


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET message = 'nothing happened' WHERE id = :id",
        "DELETE FROM audit_events WHERE id = :id",
    ],
)
def test_update_or_delete_when_triggers_present_then_database_refuses(
    any_store: Store, statement: str
) -> None:
    ids = fill(any_store, 3)
    with pytest.raises(DBAPIError, match="append-only"):
        execute(any_store, statement, id=ids[1])
    assert any_store.verify_chain()[0]


def test_verify_when_a_row_is_edited_then_that_row_is_named(any_store: Store) -> None:
    ids = fill(any_store)
    drop_append_only_guards(any_store)
    execute(any_store, "UPDATE audit_events SET message = 'nothing' WHERE id = :id", id=ids[2])
    ok, bad, why = any_store.verify_chain()
    assert (ok, bad) == (False, ids[2])
    assert "edited" in why


def test_verify_when_a_row_is_deleted_then_the_next_row_is_named(any_store: Store) -> None:
    ids = fill(any_store)
    drop_append_only_guards(any_store)
    execute(any_store, "DELETE FROM audit_events WHERE id = :id", id=ids[2])
    ok, bad, why = any_store.verify_chain()
    assert (ok, bad) == (False, ids[3])
    assert "deleted" in why


def test_verify_when_an_edit_is_rehashed_then_the_next_row_breaks(any_store: Store) -> None:
    ids = fill(any_store)
    drop_append_only_guards(any_store)
    execute(any_store, "UPDATE audit_events SET hash = :h WHERE id = :id", h="f" * 64, id=ids[1])
    ok, bad, _ = any_store.verify_chain()
    assert not ok and bad == ids[1]


def test_append_when_events_added_then_each_row_chains_to_the_previous(any_store: Store) -> None:
    fill(any_store, 3)
    events = list(any_store.events())
    assert events[0].prev_hash == "0" * 64
    assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]
    assert any_store.tail(2, account="acct")[-1].payload == {"n": 2, "price": "60000.1"}


def test_append_when_two_writers_race_then_chain_stays_intact(any_store: Store) -> None:
    other = Store(any_store.url)

    def write(store: Store, who: str) -> None:
        for index in range(25):
            store.audit([AuditEvent(EventKind.ALERT, f"{who} {index}", actor=who)], T0)

    threads = [
        threading.Thread(target=write, args=(any_store, "service")),
        threading.Thread(target=write, args=(other, "operator")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    other.dispose()
    assert any_store.verify_chain() == (True, None, "50 rows, chain intact")
