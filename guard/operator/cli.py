"""The `guard` command line: operators and the service meet only in the database.

Every module in guard/operator/commands/ that defines `register(app)` adds its commands here; a
database that cannot be reached ends any of them in one stderr line and exit code 4."""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import pkgutil
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any

import typer

import guard.operator.commands
from guard.operator.commands.common import UnsureChange, unreachable
from guard.service.logs import configure
from guard.store import DatabaseUnreachable

# Commands print their results on stdout (tables, --json); logs go to stderr, warnings and up.
# `guard run` reconfigures to one JSON line per tick.
configure(stream=sys.stderr, level=logging.WARNING)

app = typer.Typer(
    name="guard",
    help="Unattended risk guard for perpetual-futures accounts.",
    epilog=(
        "Exit codes: 2 bad input; 3 database not migrated; 4 database unreachable "
        "(one stderr line; nothing was changed, unless it says otherwise)."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"guard {importlib.metadata.version('guard')}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Unattended risk guard for perpetual-futures accounts."""


for info in sorted(pkgutil.iter_modules(guard.operator.commands.__path__), key=lambda m: m.name):
    module = importlib.import_module(f"guard.operator.commands.{info.name}")
    register = getattr(module, "register", None)
    if callable(register):
        register(app)


def _reporting_outages(callback: Callable[..., Any], command: str) -> Callable[..., Any]:
    """`callback`, ending in one stderr line and exit 4 when the database cannot be reached."""

    @wraps(callback)  # typer reads the options from the wrapped signature
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return callback(*args, **kwargs)
        except DatabaseUnreachable as error:
            unreachable(error, command)
        except UnsureChange as unsure:
            unreachable(unsure.error, command, unsure.outcome)

    return run


def _report_outages(group: typer.Typer) -> None:
    for command in group.registered_commands:
        if command.callback is not None:
            name = command.name or command.callback.__name__
            command.callback = _reporting_outages(command.callback, name)
    for sub in group.registered_groups:
        if isinstance(sub.typer_instance, typer.Typer):
            _report_outages(sub.typer_instance)


_report_outages(app)


def main() -> None:
    app()
