"""Runs the packaged alembic migrations in code (no alembic.ini): upgrade, current and head
revisions, and the check the service makes before it starts."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class SchemaNotReady(RuntimeError):
    """The database is not at the code's migration head; the message says what to run."""


def config(engine: Engine | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", str(MIGRATIONS / "versions"))
    if engine is not None:
        cfg.attributes["engine"] = engine
    return cfg


def head_revision() -> str:
    """The newest revision this code knows."""
    head = ScriptDirectory.from_config(config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships 0001_initial
        raise RuntimeError(f"no migrations found under {MIGRATIONS}")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None: never migrated)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Migrate the database up to `revision`; returns the revision it is at afterwards."""
    if current_revision(engine) is None and "audit_events" in inspect(engine).get_table_names():
        where = engine.url.render_as_string(hide_password=True)
        raise SchemaNotReady(
            f"database at {where} has guard tables but no migration record (it was made by a "
            "build before migrations existed): move it aside and run `guard db upgrade` to "
            "start a fresh one"
        )
    cfg = config(engine)
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)
    return current_revision(engine)


def downgrade(engine: Engine, revision: str) -> str | None:
    """Migrate the database down to `revision` ("base": empty)."""
    cfg = config(engine)
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, revision)
    return current_revision(engine)


def require_migrated(engine: Engine, where: str) -> str:
    """The head revision when the database is at it; else SchemaNotReady saying what to run."""
    head = head_revision()
    current = current_revision(engine)
    if current == head:
        return head
    at = "empty (never migrated)" if current is None else f"at revision {current}"
    plain = not where or "***" in where  # a hidden password cannot be pasted back
    command_line = "guard db upgrade" if plain else f"guard db upgrade --db {where}"
    raise SchemaNotReady(f"database at {where} is {at}, expected {head}: run `{command_line}`")
