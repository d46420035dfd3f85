"""The `guard` command line: operators and the service meet only in the database.

Every module in guard/operator/commands/ that defines `register(app)` adds its commands here."""

from __future__ import annotations

import importlib
import logging
import pkgutil
import sys

import typer

import guard.operator.commands
from guard.service.logs import configure

# Commands print their results on stdout (tables, --json); logs go to stderr, warnings and up.
# `guard run` reconfigures to one JSON line per tick.
configure(stream=sys.stderr, level=logging.WARNING)

app = typer.Typer(
    name="guard",
    help="Unattended risk guard for perpetual-futures accounts.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

for info in sorted(pkgutil.iter_modules(guard.operator.commands.__path__), key=lambda m: m.name):
    module = importlib.import_module(f"guard.operator.commands.{info.name}")
    register = getattr(module, "register", None)
    if callable(register):
        register(app)


def main() -> None:
    app()
