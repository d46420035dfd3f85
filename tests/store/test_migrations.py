"""Migrations from empty, the un-migrated refusal, and the schema matching the models."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlmodel import SQLModel

from guard.store import SchemaNotReady, Store
from guard.store.migrate import config

TABLES = {
    "audit_events",
    "order_intents",
    "guard_state",
    "override_locks",
    "accounts",
    "operator_requests",
}


def test_upgrade_when_database_is_empty_then_every_table_exists_at_head(any_store: Store) -> None:
    any_store.downgrade("base")
    assert any_store.current_revision() is None
    assert TABLES.isdisjoint(inspect(any_store.engine).get_table_names())

    assert any_store.upgrade() == Store.head_revision()

    assert set(inspect(any_store.engine).get_table_names()) >= TABLES
    assert any_store.require_migrated() == Store.head_revision()


def test_first_revision_when_listed_then_named_0001_initial() -> None:
    script = ScriptDirectory.from_config(config())
    bases = script.get_bases()
    assert bases == ["0001_initial"]


def test_upgrade_when_already_at_head_then_nothing_changes(any_store: Store) -> None:
    any_store.audit([], at=datetime.now(UTC))
    assert any_store.upgrade() == Store.head_revision()
    assert any_store.upgrade() == Store.head_revision()


def test_require_migrated_when_never_migrated_then_error_says_what_to_run(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'new.db'}")
    with pytest.raises(SchemaNotReady) as raised:
        store.require_migrated()
    message = str(raised.value)
    assert "empty (never migrated)" in message
    assert f"expected {Store.head_revision()}" in message
    assert "guard db upgrade" in message
    assert str(tmp_path / "new.db") in message
    store.dispose()


def test_require_migrated_when_behind_head_then_error_names_both_revisions(
    any_store: Store,
) -> None:
    any_store.downgrade("base")
    with pytest.raises(SchemaNotReady, match="run `guard db upgrade"):
        any_store.require_migrated()


def test_migrated_schema_when_compared_with_models_then_no_difference(any_store: Store) -> None:
    with any_store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == []


def test_upgrade_when_tables_exist_without_migration_record_then_refused_clearly(
    tmp_path: Path,
) -> None:
    store = Store(f"sqlite:///{tmp_path / 'old.db'}")
    SQLModel.metadata.create_all(store.engine)
    with pytest.raises(SchemaNotReady, match="no migration record"):
        store.upgrade()
    store.dispose()


def test_upgrade_when_rows_were_written_at_0004_then_they_verify_as_the_legacy_chain(
    any_store: Store,
) -> None:
    from sqlalchemy import text

    from guard.core.audit import AuditEvent, EventKind
    from guard.store.audit_chain import GENESIS
    from guard.store.lease_queries import micros_at

    any_store.downgrade("0004_account_markets")
    at = datetime(2024, 8, 5, tzinfo=UTC)
    prev = GENESIS
    with any_store.engine.begin() as conn:  # what the 0004 code wrote: one global chain
        for index, account in enumerate(["a", "b", None, "a"]):
            message, payload = f"old {index}", f'{{"n": {index}}}'
            content = [prev, at.isoformat(), "alert", account, None, None, None, None]
            content += ["guard", None, message, payload]
            digest = hashlib.sha256(
                json.dumps(content, separators=(",", ":"), ensure_ascii=False).encode()
            ).hexdigest()
            conn.execute(
                text(
                    "INSERT INTO audit_events (at, kind, account, actor, message, payload, "
                    "prev_hash, hash) VALUES (:at, 'alert', :account, 'guard', :message, "
                    ":payload, :prev_hash, :hash)"
                ),
                {
                    "at": micros_at(at),
                    "account": account,
                    "message": message,
                    "payload": payload,
                    "prev_hash": prev,
                    "hash": digest,
                },
            )
            prev = digest
    assert any_store.upgrade() == Store.head_revision()

    assert {e.chain for e in any_store.events()} == {"@legacy"}
    any_store.audit([AuditEvent(EventKind.ALERT, "new", account="a")], at)
    any_store.anchor(at)
    ok, _, summary = any_store.verify_chain()
    assert ok, summary
    assert summary == "6 rows in 3 chain(s), 1 anchor(s) checked, intact"
    new = [e for e in any_store.events() if e.chain == "a"]
    assert new[0].prev_hash == GENESIS  # the account's own chain starts fresh
