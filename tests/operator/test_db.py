"""`guard db upgrade|current` and every operator command refusing an un-migrated database."""

from __future__ import annotations

from pathlib import Path

import pytest

from guard.store import Store
from tests.conftest import _reset_postgres
from tests.operator.conftest import run


def test_db_upgrade_when_empty_then_migrates_and_current_reports_head(tmp_path: Path) -> None:
    path = str(tmp_path / "var" / "guard.db")
    before = run("db", "current", "--db", path)
    assert before.code == 1 and "never migrated" in before.out and "guard db upgrade" in before.err

    upgraded = run("db", "upgrade", "--db", path)
    assert upgraded.code == 0 and f"(empty) -> {Store.head_revision()}" in upgraded.out

    again = run("db", "upgrade", "--db", path)
    assert again.code == 0 and "already at" in again.out
    current = run("db", "current", "--db", path, "--json")
    assert current.code == 0 and f'"current": "{Store.head_revision()}"' in current.out


@pytest.mark.postgres
def test_db_upgrade_when_postgres_url_then_migrates(postgres_url: str) -> None:
    _reset_postgres(postgres_url)
    assert run("db", "upgrade", "--db", postgres_url).code == 0
    assert run("db", "current", "--db", postgres_url).code == 0


@pytest.mark.parametrize(
    "command",
    [
        ["status"],
        ["locks"],
        ["lock", "--reason", "r"],
        ["unlock", "1"],
        ["audit", "tail"],
        ["audit", "verify"],
        ["flatten", "--account", "a", "--reason", "r", "--yes", "--wait", "0"],
    ],
)
def test_command_when_database_not_migrated_then_exit_3_saying_what_to_run(
    tmp_path: Path, command: list[str]
) -> None:
    ran = run(*command, "--db", str(tmp_path / "fresh.db"))
    assert ran.code == 3
    assert "never migrated" in ran.err and "run `guard db upgrade --db sqlite:///" in ran.err


def test_version_when_asked_then_prints_the_package_version() -> None:
    import importlib.metadata

    ran = run("--version")
    assert ran.code == 0
    assert ran.out == f"guard {importlib.metadata.version('guard')}"
