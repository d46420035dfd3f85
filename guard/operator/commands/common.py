"""Shared CLI helpers: the database URL, the console, decimal-safe JSON output, exit codes."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.markup import escape

from guard.operator.console.actions import ConsoleCommands
from guard.operator.console.refusal import Actor, Refusal, Why
from guard.store import DatabaseUnreachable, Scope, Store
from guard.store.codec import to_jsonable
from guard.store.migrate import SchemaNotReady

DEFAULT_DATABASE = "var/guard.db"
EXIT_INVALID = 2  # bad input: a usage error, a bad file, an unknown name
EXIT_NOT_MIGRATED = 3  # the database is not at the code's schema revision
EXIT_UNREACHABLE = 4  # the database cannot be reached: the command changed nothing (or says what)
NOTHING_CHANGED = "nothing was changed"
# What still holds the guard back when the database is down (by command).
STILL_WORKS = {"lock": "the lock was NOT set"}
PAUSE_STILL_WORKS = (
    "`guard pause --reason R [--account A] [--for 30m]` still works without the database (a file "
    "the running service watches and its egress gate honours)"
)

console = Console()
errors = Console(stderr=True)


def database_url(db: str | None = None) -> str:
    """--db PATH or URL, else GUARD_DATABASE_URL, else sqlite:///var/guard.db."""
    raw = db or os.environ.get("GUARD_DATABASE_URL") or DEFAULT_DATABASE
    if "://" in raw:
        return raw
    try:
        Path(raw).parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        reason = f"cannot create {error.filename or Path(raw).parent}: {error.strerror or error}"
        raise DatabaseUnreachable(f"sqlite:///{raw}", reason) from error
    return f"sqlite:///{raw}"


def open_store(db: str | None = None, *, create: bool = False) -> Store:
    """The store at --db / GUARD_DATABASE_URL; with `create`, migrated to head first.

    A database the migrations cannot bring to head exits 3 with the store's explanation; one
    that cannot be reached raises DatabaseUnreachable (the CLI exits 4 in one line)."""
    store = Store(database_url(db), unreachable_raises=True)
    command = click.get_current_context(silent=True)
    if command is not None:  # the command's connections close with it (also when run in-process)
        command.call_on_close(store.dispose)
    if create:
        store.current_revision()  # unreachable here: nothing was changed
        try:
            with changing("the schema may or may not have been migrated (see `guard db current`)"):
                store.create_schema()
        except SchemaNotReady as error:
            fail(str(error), EXIT_NOT_MIGRATED)
    return store


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(to_jsonable(value), indent=2, sort_keys=False) + "\n")


def fail(message: str, code: int = EXIT_INVALID) -> NoReturn:
    # the message is text, not markup: no [style] tags or :emoji: codes read into it
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False, emoji=False)
    raise SystemExit(code)


class UnsureChange(Exception):
    """The database became unreachable during or after a change: `outcome` says what is known."""

    def __init__(self, error: DatabaseUnreachable, outcome: str) -> None:
        super().__init__(f"{error}; {outcome}")
        self.error = error
        self.outcome = outcome


@contextmanager
def changing(outcome: str) -> Iterator[None]:
    """Around store writes: a database lost meanwhile is reported with `outcome` (what the
    operator must assume, e.g. "the lock may or may not have been set"), not "nothing changed"."""
    try:
        yield
    except DatabaseUnreachable as error:
        raise UnsureChange(error, outcome) from error


def unreachable(
    error: DatabaseUnreachable, command: str | None, outcome: str = NOTHING_CHANGED
) -> NoReturn:
    """One stderr line: which database, the driver's reason, what changed; exit 4."""
    message = f"database unreachable at {error.where} ({error.reason}): {outcome}"
    if command in STILL_WORKS:
        if outcome == NOTHING_CHANGED:
            message += f", {STILL_WORKS[command]}"
        message += f"; {PAUSE_STILL_WORKS}"
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise SystemExit(EXIT_UNREACHABLE)


def parse_time(raw: str, option: str) -> datetime:
    """An ISO-8601 time with a zone (Z for UTC) as an aware UTC datetime; exits 2 otherwise."""
    try:
        value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        fail(f"{option} must be an ISO-8601 time like 2024-08-05T14:30Z, got {raw!r}")
    if value.utcoffset() is None:
        fail(f"{option} needs a time zone (append Z for UTC), got {raw!r}")
    return value.astimezone(UTC)


def commands(store: Store) -> ConsoleCommands:
    """The console's command layer over `store` (the CLI is one of its transports)."""
    return ConsoleCommands(store)


def cli_actor(name: str) -> Actor:
    """A shell user: whoever can reach the database may operate (as before the console)."""
    return Actor(name, Scope.OPERATE, "cli")


@contextmanager
def refusing() -> Iterator[None]:
    """A console Refusal ends the command: exit 1 when the state forbids it, 2 for bad input."""
    try:
        yield
    except Refusal as refusal:
        fail(refusal.message, 1 if refusal.why in (Why.CONFLICT, Why.UNAVAILABLE) else EXIT_INVALID)
