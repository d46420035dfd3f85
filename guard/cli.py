"""The `guard` command line: operators and the service meet only in the database."""

from __future__ import annotations

import typer

from guard.commands import audit, demo

app = typer.Typer(
    name="guard",
    help="Unattended risk guard for perpetual-futures accounts.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
for module in (demo, audit):
    module.register(app)


def main() -> None:
    app()
