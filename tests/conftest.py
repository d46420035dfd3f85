"""Shared fixtures: stores on SQLite and real PostgreSQL, the shared data folder, builders."""

from __future__ import annotations

import gc
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from guard.store import Store
from tests.venue_lab import venue_lab  # noqa: F401  (the venue lab fixture)

SHARED = Path(__file__).resolve().parents[2] / "shared"
POSTGRES_ADMIN_URL = os.environ.get(
    "GUARD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def shared_path(*parts: str) -> Path:
    """A file under ../shared, skipping the test visibly when the folder is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"../shared is absent here ({path} not found): real venue data unavailable")
    return path


def _postgres_reachable() -> str | None:
    try:
        import psycopg

        url = POSTGRES_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url, connect_timeout=3):
            return None
    except Exception as error:  # any failure means: not reachable here
        return f"{type(error).__name__}: {error}"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped afterwards."""
    problem = _postgres_reachable()
    if problem is not None:
        if os.environ.get("GUARD_REQUIRE_POSTGRES") == "1":
            pytest.fail(
                f"PostgreSQL is required (GUARD_REQUIRE_POSTGRES=1) but unreachable: {problem}"
            )
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {problem}")
    import psycopg

    name = f"guard_test_{uuid.uuid4().hex[:10]}"
    admin = POSTGRES_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _reset_postgres(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        # connections an earlier test left open (an undisposed engine's pool) are closed here, so
        # a long run never reaches the server's max_connections
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The same test on SQLite and on real PostgreSQL."""
    if request.param == "sqlite":
        store = Store(f"sqlite:///{tmp_path / 'guard.db'}")
    else:
        url = request.getfixturevalue("postgres_url")
        _reset_postgres(url)
        store = Store(url)
    store.create_schema()
    yield store
    store.dispose()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'guard.db'}")
    store.create_schema()
    yield store
    store.dispose()


@pytest.fixture(autouse=True)
def _close_leaked_postgres_connections(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a PostgreSQL test, collect the engines it left undisposed (in-process CLI runs,
    services), so their pooled connections close before the next test instead of piling up to
    the server's max_connections over a long run."""
    yield
    if request.node.get_closest_marker("postgres") is not None:
        gc.collect()


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """A test that runs a command in-process (`guard run` configures JSON logs on stdout at INFO)
    must not leave that set-up to the next test, whose CLI output would then carry library log
    lines (alembic's "Context impl …" in `guard status --json`)."""
    import logging

    import structlog

    previous = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.configure(**previous)
    root.handlers[:] = handlers
    root.setLevel(level)
