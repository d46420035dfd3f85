"""`guard token create|revoke|list`: the secret is printed once and never stored; a revoked token
is refused; names are unique; each change is audited."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from guard.store import Store
from tests.operator.conftest import run


def _db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'guard.db'}"
    store = Store(url)
    store.upgrade()
    store.dispose()
    return url


def test_create_when_named_then_secret_printed_once_and_only_its_hash_stored(
    tmp_path: Path,
) -> None:
    db = _db(tmp_path)
    made = run("token", "create", "--name", "phone", "--scope", "operate", "--db", db)
    assert made.code == 0, made.text
    secret = made.raw.stdout.strip().splitlines()[-1]
    assert secret.startswith("guard_") and len(secret) > 40
    assert secret.encode() not in (tmp_path / "guard.db").read_bytes()
    store = Store(db)
    try:
        token = store.token_for(secret)
        assert token is not None and token.name == "phone" and token.scope.value == "operate"
        (event,) = [e for e in store.events() if e.kind == "token_created"]
        assert secret not in event.message + str(event.payload)
    finally:
        store.dispose()
    listed = run("token", "list", "--db", db)
    assert "phone" in listed.out and secret not in listed.out
    again = run("token", "create", "--name", "phone", "--db", db)
    assert again.code == 2 and "exists already" in again.err


def test_revoke_when_token_revoked_then_refused_and_revoking_twice_exits_1(tmp_path: Path) -> None:
    db = _db(tmp_path)
    secret = run("token", "create", "--name", "dash", "--db", db).raw.stdout.strip().split()[-1]
    assert run("token", "revoke", "dash", "--actor", "alice", "--db", db).code == 0
    store = Store(db)
    try:
        assert store.token_for(secret) is None
        (event,) = [e for e in store.events() if e.kind == "token_revoked"]
        assert event.actor == "alice"
        assert store.tokens()[0].revoked_at is not None
        assert store.tokens()[0].revoked_at <= datetime.now(UTC)
    finally:
        store.dispose()
    twice = run("token", "revoke", "dash", "--db", db)
    assert twice.code == 1 and "already revoked" in twice.err
    unknown = run("token", "revoke", "nobody", "--db", db)
    assert unknown.code == 1 and "no token named" in unknown.err
