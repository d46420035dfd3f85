"""`guard audit archive`: each chain's old rows move to a gzip JSONL file that verifies offline;
what remains still verifies from the recorded bases; tampering with either is caught; nothing
else may delete audit rows."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.exc import DBAPIError

from guard.core.audit import AuditEvent, EventKind
from guard.store import Store
from guard.store.audit_archive import verify_archive_file
from tests.store.tamper import drop_append_only_guards, execute
from tests.store.test_audit_chain import T0, fill


def history(store: Store) -> None:
    """Two accounts and the service chain, ten rows each a second apart, an anchor between."""
    fill(store, 5, "acct-a")
    fill(store, 5, "acct-b")
    fill(store, 5, None)
    store.anchor(T0 + timedelta(seconds=6))
    for account in ("acct-a", "acct-b"):
        store.audit(
            [AuditEvent(EventKind.ALERT, "later", account=account)], T0 + timedelta(hours=1)
        )


def test_archive_when_old_rows_then_file_verifies_and_the_rest_still_verifies(
    any_store: Store, tmp_path: Path
) -> None:
    history(any_store)
    before = any_store.count_events()
    out = tmp_path / "audit-1.jsonl.gz"
    done = any_store.archive_audit(T0 + timedelta(minutes=30), out, actor="op", at=T0)
    assert done.rows == 15  # every old row of acct-a, acct-b and @service's 5 (the anchor stays)
    assert set(done.chains) == {"acct-a", "acct-b", "@service"}
    assert any_store.count_events() == before - 15 + 1  # + the audit_archived event
    assert verify_archive_file(out).ok and verify_archive_file(out).rows == 15
    ok, _bad, why = any_store.verify_chain()
    assert ok, why
    any_store.audit([AuditEvent(EventKind.ALERT, "after", account="acct-a")], T0)
    assert any_store.verify_chain()[0]


def test_archive_when_a_chain_is_all_old_then_its_last_row_stays(
    any_store: Store, tmp_path: Path
) -> None:
    fill(any_store, 4, "acct-a")
    done = any_store.archive_audit(T0 + timedelta(days=1), tmp_path / "a.gz", actor="op", at=T0)
    assert done.chains["acct-a"]["rows"] == 3
    assert [e.message for e in any_store.tail(10, account="acct-a")] == ["event 3"]
    any_store.audit([AuditEvent(EventKind.ALERT, "next", account="acct-a")], T0)
    assert any_store.verify_chain()[0]


def test_verify_when_a_row_after_the_cut_is_deleted_then_reported(
    any_store: Store, tmp_path: Path
) -> None:
    history(any_store)
    any_store.archive_audit(T0 + timedelta(minutes=30), tmp_path / "a.gz", actor="op", at=T0)
    first = next(e for e in any_store.events() if e.chain == "acct-a")
    drop_append_only_guards(any_store)
    execute(any_store, "DELETE FROM audit_events WHERE id = :id", id=first.id)
    ok, _bad, why = any_store.verify_chain()
    assert not ok and "acct-a" in why


def test_verify_archive_when_a_row_is_edited_then_the_line_is_named(
    any_store: Store, tmp_path: Path
) -> None:
    history(any_store)
    out = tmp_path / "a.gz"
    any_store.archive_audit(T0 + timedelta(minutes=30), out, actor="op", at=T0)
    lines = gzip.decompress(out.read_bytes()).decode().splitlines()
    row = json.loads(lines[2])
    row["message"] = "nothing happened"
    lines[2] = json.dumps(row, sort_keys=True)
    edited = tmp_path / "edited.gz"
    edited.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    checked = verify_archive_file(edited)
    assert not checked.ok and ":3:" in checked.problem and "hash" in checked.problem


def test_archive_when_file_exists_then_refused_and_nothing_deleted(
    any_store: Store, tmp_path: Path
) -> None:
    history(any_store)
    out = tmp_path / "a.gz"
    out.write_text("keep me")
    rows = any_store.count_events()
    with pytest.raises(FileExistsError):
        any_store.archive_audit(T0 + timedelta(minutes=30), out, actor="op", at=T0)
    assert any_store.count_events() == rows and out.read_text() == "keep me"


def test_delete_when_not_archived_then_the_database_still_refuses(
    any_store: Store, tmp_path: Path
) -> None:
    history(any_store)
    any_store.archive_audit(T0 + timedelta(minutes=30), tmp_path / "a.gz", actor="op", at=T0)
    newest = any_store.tail(1)[0]
    with pytest.raises(DBAPIError):
        execute(any_store, "DELETE FROM audit_events WHERE id = :id", id=newest.id)
