"""CLI fixtures: a migrated database URL on SQLite and on PostgreSQL, and a runner helper."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from guard.operator.cli import app
from guard.store import Store
from tests.conftest import _reset_postgres


@dataclass(frozen=True)
class Ran:
    """A finished command: exit code, stdout and stderr with whitespace collapsed (rich wraps)."""

    code: int
    out: str
    err: str
    raw: Result

    @property
    def text(self) -> str:
        return f"{self.out} {self.err}"


def run(*args: str, input: str | None = None) -> Ran:
    result = CliRunner().invoke(app, list(args), input=input)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Ran(
        result.exit_code,
        " ".join(result.stdout.split()),
        " ".join(result.stderr.split()),
        result,
    )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database; the value is what `--db` takes."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'guard.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
        _reset_postgres(url)
    store = Store(url)
    store.upgrade()
    store.dispose()
    yield url


@pytest.fixture
def store(db: str) -> Iterator[Store]:
    """The same database as `db`, opened the way the service opens it."""
    opened = Store(db)
    yield opened
    opened.dispose()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Render tables at 200 columns so assertions do not depend on rich's wrapping."""
    from guard.operator.commands import common

    monkeypatch.setattr(common.console, "width", 200)
    monkeypatch.setattr(common.errors, "width", 200)
