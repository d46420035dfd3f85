"""The anchors' copy outside the database: appended and fsynced per anchor; a database whose
anchors were rewritten (or lost) no longer matches it; a torn last line is tolerated."""

from __future__ import annotations

from pathlib import Path

from guard.core.audit import EventKind
from guard.store import Store
from guard.store.anchor_sink import append_anchor, check_anchor_file
from tests.store.tamper import drop_append_only_guards, execute
from tests.store.test_audit_chain import T0, fill


def anchors(store: Store) -> list:  # type: ignore[type-arg]
    return store.events_of_kind(EventKind.ANCHOR.value)


def test_check_when_copy_matches_then_no_problem(any_store: Store, tmp_path: Path) -> None:
    sink = tmp_path / "anchors" / "anchors.jsonl"
    fill(any_store, 3, "acct")
    append_anchor(sink, any_store.anchor(T0))
    fill(any_store, 2, "acct")
    append_anchor(sink, any_store.anchor(T0))
    assert len(sink.read_text().splitlines()) == 2
    assert check_anchor_file(sink, anchors(any_store)) == []
    with sink.open("a") as torn:  # a crash mid-append leaves a partial last line
        torn.write('{"id": 9')
    assert check_anchor_file(sink, anchors(any_store)) == []


def test_check_when_an_anchor_is_rewritten_in_the_database_then_named(
    any_store: Store, tmp_path: Path
) -> None:
    sink = tmp_path / "anchors.jsonl"
    fill(any_store, 3, "acct")
    first = any_store.anchor(T0)
    append_anchor(sink, first)
    drop_append_only_guards(any_store)
    execute(any_store, "UPDATE audit_events SET hash = :h WHERE id = :id", h="0" * 64, id=first.id)
    (problem,) = check_anchor_file(sink, anchors(any_store))
    assert f"anchor #{first.id} differs" in problem and ":1:" in problem


def test_check_when_an_anchor_is_deleted_then_named(any_store: Store, tmp_path: Path) -> None:
    sink = tmp_path / "anchors.jsonl"
    fill(any_store, 3, "acct")
    first = any_store.anchor(T0)
    append_anchor(sink, first)
    drop_append_only_guards(any_store)
    execute(any_store, "DELETE FROM audit_events WHERE id = :id", id=first.id)
    (problem,) = check_anchor_file(sink, anchors(any_store))
    assert "is not in the database" in problem
