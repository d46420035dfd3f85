"""Test helpers that act as a superuser would: drop the append-only triggers, then edit rows."""

from __future__ import annotations

from sqlalchemy import text

from guard.store import Store


def drop_append_only_guards(store: Store) -> None:
    """Remove the triggers that reject UPDATE/DELETE on audit_events (what an attacker with
    DDL rights could do); verify_chain must still catch what follows."""
    with store.engine.begin() as conn:
        if store.is_sqlite:
            conn.execute(text("DROP TRIGGER audit_events_no_update"))
            conn.execute(text("DROP TRIGGER audit_events_no_delete"))
        else:
            conn.execute(text("DROP TRIGGER audit_events_append_only ON audit_events"))
            conn.execute(text("DROP TRIGGER audit_events_no_truncate ON audit_events"))


def execute(store: Store, sql: str, **params: object) -> None:
    with store.engine.begin() as conn:
        conn.execute(text(sql), params)
