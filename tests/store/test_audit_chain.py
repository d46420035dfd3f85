"""The audit log is append-only (triggers) and hash-chained per account (an edit or deletion is
detected on its chain; anchors catch a chain's tail cut off or a whole chain deleted)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import DBAPIError

from guard.core.audit import AuditEvent, EventKind
from guard.store import Store
from tests.store.tamper import drop_append_only_guards, execute

T0 = datetime(2024, 8, 5, tzinfo=UTC)


def fill(store: Store, count: int = 5, account: str | None = "acct") -> list[int]:
    ids: list[int] = []
    for index in range(count):
        ids += store.audit(
            [
                AuditEvent(
                    EventKind.ALERT,
                    f"event {index}",
                    account=account,
                    payload={"n": index, "price": "60000.1"},
                )
            ],
            T0 + timedelta(seconds=index),
        )
    return ids


def test_verify_when_untouched_then_intact(any_store: Store) -> None:
    fill(any_store)
    assert any_store.verify_chain() == (
        True,
        None,
        "5 rows in 1 chain(s), 0 anchor(s) checked, intact",
    )


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
    assert "edited" in why and "chain acct" in why


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
    assert any_store.verify_chain() == (
        True,
        None,
        "50 rows in 1 chain(s), 0 anchor(s) checked, intact",
    )


def interleave(store: Store, rounds: int = 3) -> dict[str, list[int]]:
    """Rows of accounts a and b and of the service, interleaved; ids per chain."""
    ids: dict[str, list[int]] = {"a": [], "b": [], "@service": []}
    for _ in range(rounds):
        for account in ("a", "b", None):
            ids[account or "@service"] += fill(store, 1, account)
    return ids


def test_append_when_accounts_interleave_then_each_row_chains_to_its_own_chain(
    any_store: Store,
) -> None:
    ids = interleave(any_store)
    events = {e.id: e for e in any_store.events()}
    for chain, chain_ids in ids.items():
        rows = [events[i] for i in chain_ids]
        assert {row.chain for row in rows} == {chain}
        assert rows[0].prev_hash == "0" * 64
        assert [r.prev_hash for r in rows[1:]] == [r.hash for r in rows[:-1]]
    assert any_store.verify_chain() == (
        True,
        None,
        "9 rows in 3 chain(s), 0 anchor(s) checked, intact",
    )


def test_verify_when_a_whole_chain_is_renamed_then_its_first_row_is_named(
    any_store: Store,
) -> None:
    ids = interleave(any_store)
    drop_append_only_guards(any_store)
    execute(any_store, "UPDATE audit_events SET chain = 'a2' WHERE chain = 'b'")
    ok, bad, why = any_store.verify_chain()
    assert (ok, bad) == (False, ids["b"][0])
    assert why.startswith(f"chain a2: row {ids['b'][0]}: its content does not match its hash")


def test_verify_when_a_row_inside_a_chain_is_deleted_then_that_chains_next_row_is_named(
    any_store: Store,
) -> None:
    ids = interleave(any_store)
    drop_append_only_guards(any_store)
    execute(any_store, "DELETE FROM audit_events WHERE id = :id", id=ids["b"][1])
    ok, bad, why = any_store.verify_chain()
    assert (ok, bad) == (False, ids["b"][2])
    assert why.startswith(f"chain b: row {ids['b'][2]}") and "deleted" in why


def test_anchor_when_written_then_it_records_every_chain_tip_and_verifies(
    any_store: Store,
) -> None:
    ids = interleave(any_store)
    anchor = any_store.anchor(T0, actor="ops")
    assert (anchor.kind, anchor.chain, anchor.actor) == ("anchor", "@service", "ops")
    events = {e.id: e for e in any_store.events()}
    assert anchor.payload["chains"] == {
        chain: {"id": chain_ids[-1], "hash": events[chain_ids[-1]].hash}
        for chain, chain_ids in ids.items()
    }
    assert anchor.prev_hash == events[ids["@service"][-1]].hash
    fill(any_store, 1, "a")
    any_store.anchor(T0)
    assert any_store.verify_chain() == (
        True,
        None,
        "12 rows in 3 chain(s), 2 anchor(s) checked, intact",
    )


def test_verify_when_a_chains_tail_is_cut_below_an_anchor_then_chain_and_row_are_named(
    any_store: Store,
) -> None:
    ids = interleave(any_store)
    anchor = any_store.anchor(T0)
    fill(any_store, 2, "b")  # written after the anchor: not covered by it
    drop_append_only_guards(any_store)
    execute(any_store, "DELETE FROM audit_events WHERE chain = 'a' AND id >= :id", id=ids["a"][1])
    ok, bad, why = any_store.verify_chain()
    assert (ok, bad) == (False, ids["a"][-1])
    assert why.startswith(f"chain a: row {ids['a'][-1]}")
    assert f"anchor #{anchor.id}" in why and "tail was cut off" in why
    assert f"ends at row {ids['a'][0]}" in why


def test_verify_when_a_whole_chain_is_deleted_after_an_anchor_then_it_is_named(
    any_store: Store,
) -> None:
    ids = interleave(any_store)
    anchor = any_store.anchor(T0)
    drop_append_only_guards(any_store)
    execute(any_store, "DELETE FROM audit_events WHERE chain = 'b'")
    ok, bad, why = any_store.verify_chain()
    assert (ok, bad) == (False, ids["b"][-1])
    assert why.startswith(f"chain b: row {ids['b'][-1]}: the whole chain is gone")
    assert f"anchor #{anchor.id}" in why


def test_verify_when_an_anchors_tips_are_edited_then_the_anchor_row_is_named(
    any_store: Store,
) -> None:
    interleave(any_store)
    anchor = any_store.anchor(T0)
    drop_append_only_guards(any_store)
    execute(
        any_store,
        "UPDATE audit_events SET payload = replace(payload, '\"b\"', '\"c\"') WHERE id = :id",
        id=anchor.id,
    )
    ok, bad, why = any_store.verify_chain()
    assert (ok, bad) == (False, anchor.id)
    assert why.startswith(f"chain @service: row {anchor.id}")


def test_append_when_writers_of_two_accounts_race_then_every_chain_stays_intact(
    any_store: Store,
) -> None:
    other = Store(any_store.url)

    def write(store: Store, account: str) -> None:
        for index in range(20):
            store.audit(
                [
                    AuditEvent(EventKind.ALERT, f"{account} {index}", account=account),
                    AuditEvent(EventKind.ALERT, f"service {index}"),
                ],
                T0,
            )
            if index % 7 == 0:
                store.anchor(T0)

    threads = [
        threading.Thread(target=write, args=(any_store, "a")),
        threading.Thread(target=write, args=(other, "b")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    other.dispose()
    assert any_store.verify_chain() == (
        True,
        None,
        "86 rows in 3 chain(s), 6 anchor(s) checked, intact",
    )
