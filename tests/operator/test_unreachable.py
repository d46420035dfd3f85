"""Operator commands with the database unreachable: one stderr line, exit 4, nothing changed."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.exc import OperationalError

from guard.operator.commands.common import EXIT_UNREACHABLE
from guard.store import AccountInfo, DatabaseUnreachable, Store
from guard.store.database import is_outage
from tests.conftest import _reset_postgres
from tests.operator.conftest import Ran, run
from tests.service.helpers import POLICY

# Nothing listens on port 1: the connection is refused at once (and a blackholed host would be
# given up after the operator's short connect timeout).
POSTGRES_DOWN = "postgresql+psycopg://postgres:s3cret@127.0.0.1:1/guard"

COMMANDS = {
    "lock": ("lock", "--account", "main", "--reason", "outage drill"),
    "status": ("status",),
    "flatten": ("flatten", "--account", "main", "--reason", "outage drill", "--yes", "--wait", "0"),
    "audit tail": ("audit", "tail"),
    "audit show": ("audit", "show", "1"),
    "audit verify": ("audit", "verify"),
    "audit export": ("audit", "export"),
    "unlock": ("unlock", "1"),
    "locks": ("locks",),
    "db current": ("db", "current"),
    "db upgrade": ("db", "upgrade"),
    "demo": ("demo",),
}


def unreachable_db(kind: str, tmp_path: Path) -> str:
    """What `--db` takes for a database that cannot be reached or opened."""
    if kind == "postgres-refused":
        return POSTGRES_DOWN
    if kind == "sqlite-missing-directory":
        return f"sqlite:///{tmp_path / 'no-such-directory' / 'guard.db'}"
    if kind == "sqlite-path-is-a-directory":
        return f"sqlite:///{tmp_path}"
    blocker = tmp_path / "a-file"  # a bare path whose parent directory cannot be created
    blocker.write_text("not a directory\n")
    return str(blocker / "var" / "guard.db")


def assert_one_line_unreachable(ran: Ran, outcome: str = "nothing was changed") -> str:
    lines = ran.raw.stderr.splitlines()
    assert len(lines) == 1, ran.raw.stderr
    (line,) = lines
    assert "unreachable" in line and outcome in line, line
    assert "Traceback" not in ran.raw.stderr + ran.raw.stdout
    assert ran.code == EXIT_UNREACHABLE, ran.text
    return line


@pytest.mark.parametrize(
    "kind",
    [
        "postgres-refused",
        "sqlite-missing-directory",
        "sqlite-path-is-a-directory",
        "sqlite-bare-path-under-a-file",
    ],
)
@pytest.mark.parametrize("command", list(COMMANDS))
def test_command_when_database_unreachable_then_one_stderr_line_nothing_changed_and_exit_4(
    command: str, kind: str, tmp_path: Path
) -> None:
    ran = run(*COMMANDS[command], "--db", unreachable_db(kind, tmp_path))
    line = assert_one_line_unreachable(ran)
    assert ran.raw.stdout == ""
    if kind == "postgres-refused":
        assert "127.0.0.1:1/guard" in line and "Connection refused" in line
    else:
        assert "sqlite:///" in line


def test_lock_when_postgres_unreachable_then_password_hidden_and_guard_pause_named(
    tmp_path: Path,
) -> None:
    line = assert_one_line_unreachable(run(*COMMANDS["lock"], "--db", POSTGRES_DOWN))
    assert "s3cret" not in line and "postgres:***@127.0.0.1:1/guard" in line
    assert "the lock was NOT set" in line and "`guard pause" in line


def test_lock_when_sqlite_unopenable_then_lock_not_set_and_guard_pause_named(
    tmp_path: Path,
) -> None:
    db = unreachable_db("sqlite-missing-directory", tmp_path)
    line = assert_one_line_unreachable(run(*COMMANDS["lock"], "--db", db))
    assert "unable to open database file" in line
    assert "the lock was NOT set" in line and "guard pause" in line


def test_pause_when_database_unreachable_then_pause_file_written_and_exit_0(
    tmp_path: Path,
) -> None:
    config = tmp_path / "guard.yaml"
    config.write_text(
        f"version: 1\nservice:\n  database_url: {POSTGRES_DOWN}\n"
        f"  pause_file: {tmp_path / 'pause.json'}\n"
        f"accounts:\n  - {{name: main, venue: paper, policies: [{POLICY}]}}\n"
    )
    ran = run("pause", "--reason", "outage drill", "--config", str(config))
    assert ran.code == 0, ran.text
    assert "pause of every account" in ran.out and (tmp_path / "pause.json").exists()
    assert run("resume", "--config", str(config)).code == 0
    assert not (tmp_path / "pause.json").exists()


def test_status_when_database_unreachable_then_no_hint_about_locks(tmp_path: Path) -> None:
    line = assert_one_line_unreachable(run("status", "--db", POSTGRES_DOWN))
    assert "NOT set" not in line and "guard pause" not in line


# ----- lost while a change was being saved: not "nothing was changed" ---------------------------
def lost(*_: object, **__: object) -> None:
    raise DatabaseUnreachable("sqlite:///guard.db", "disk I/O error")


def test_lock_when_database_lost_while_saving_then_may_or_may_not_be_set_and_exit_4(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Store, "set_lock", lost)
    line = assert_one_line_unreachable(
        run("lock", "--reason", "r", "--db", db), "the lock may or may not have been set"
    )
    assert "nothing was changed" not in line and "guard pause" in line


def test_unlock_when_database_lost_while_saving_then_may_or_may_not_be_cleared(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Store, "clear_lock", lost)
    line = assert_one_line_unreachable(
        run("unlock", "1", "--db", db), "the lock may or may not have been cleared"
    )
    assert "nothing was changed" not in line


def test_flatten_when_database_lost_after_request_then_says_requested_and_queued(
    db: str, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.register_accounts([AccountInfo("main", "paper", False, Decimal(5))], datetime.now(UTC))
    monkeypatch.setattr(Store, "request", lost)
    ran = run(*COMMANDS["flatten"], "--db", db)
    line = assert_one_line_unreachable(ran, "flatten #1 was requested and is queued")
    assert "nothing was changed" not in line and "flatten #1 requested" in ran.out
    assert [r.id for r in store.pending_requests()] == [1]


# ----- the store's translation: only where asked, and never in the pool's pre-ping -------------
def test_store_when_not_asked_and_unreachable_then_driver_error_kept_for_the_journal() -> None:
    plain = Store(POSTGRES_DOWN)
    with pytest.raises(OperationalError) as raised:
        plain.current_revision()
    assert is_outage(raised.value)
    with pytest.raises(DatabaseUnreachable) as translated:
        Store(POSTGRES_DOWN, unreachable_raises=True).current_revision()
    assert translated.value.where == "postgresql+psycopg://postgres:***@127.0.0.1:1/guard"


@pytest.mark.postgres
def test_operator_store_when_pooled_connection_killed_then_pre_ping_reconnects(
    postgres_url: str,
) -> None:
    _reset_postgres(postgres_url)
    store = Store(postgres_url, unreachable_raises=True)
    store.upgrade()
    at = datetime.now(UTC)
    assert store.locks(at) == []  # leaves a connection in the pool
    plain = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    assert killed is not None and killed[0] >= 1
    assert store.locks(at) == []  # the failed ping is not an outage: a new connection is made
    store.dispose()
