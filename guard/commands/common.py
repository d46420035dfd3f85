"""Shared CLI helpers: the database URL, the console, decimal-safe JSON output, exit codes."""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, NoReturn

from rich.console import Console

from guard.store import Store
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


def jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(jsonable(value), indent=2, sort_keys=False) + "\n")


def fail(message: str, code: int = EXIT_INVALID) -> NoReturn:
    errors.print(f"[bold red]error:[/] {message}", highlight=False)
    raise SystemExit(code)
