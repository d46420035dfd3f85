"""Shared CLI helpers: the database URL, the console, decimal-safe JSON output, exit codes."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from rich.console import Console

from guard.store import Store
from guard.store.codec import to_jsonable
from guard.store.migrate import SchemaNotReady

DEFAULT_DATABASE = "var/guard.db"
EXIT_INVALID = 2  # bad input: a usage error, a bad file, an unknown name

console = Console()
errors = Console(stderr=True)


def database_url(db: str | None = None) -> str:
    """--db PATH or URL, else GUARD_DATABASE_URL, else sqlite:///var/guard.db."""
    raw = db or os.environ.get("GUARD_DATABASE_URL") or DEFAULT_DATABASE
    if "://" in raw:
        return raw
    Path(raw).parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{raw}"


EXIT_NOT_MIGRATED = 3


def open_store(db: str | None = None, *, create: bool = False) -> Store:
    """The store at --db / GUARD_DATABASE_URL; with `create`, migrated to head first.

    A database the migrations cannot bring to head exits 3 with the store's explanation."""
    store = Store(database_url(db))
    if create:
        try:
            store.create_schema()
        except SchemaNotReady as error:
            fail(str(error), EXIT_NOT_MIGRATED)
    return store


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(to_jsonable(value), indent=2, sort_keys=False) + "\n")


def fail(message: str, code: int = EXIT_INVALID) -> NoReturn:
    errors.print(f"[bold red]error:[/] {message}", highlight=False)
    raise SystemExit(code)


def parse_time(raw: str, option: str) -> datetime:
    """An ISO-8601 time with a zone (Z for UTC) as an aware UTC datetime; exits 2 otherwise."""
    try:
        value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        fail(f"{option} must be an ISO-8601 time like 2024-08-05T14:30Z, got {raw!r}")
    if value.utcoffset() is None:
        fail(f"{option} needs a time zone (append Z for UTC), got {raw!r}")
    return value.astimezone(UTC)
