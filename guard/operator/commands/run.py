"""`guard run --config guard.yaml [--dry-run]`: the unattended service (see guard/service/runner.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from guard.core.yaml_model import ConfigError
from guard.operator.commands.common import EXIT_UNREACHABLE, errors, fail
from guard.store.database import is_outage


def register(app: typer.Typer) -> None:
    @app.command()
    def run(
        config: Annotated[Path, typer.Option(help="service configuration (guard.yaml)")] = Path(
            "guard.yaml"
        ),
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="send nothing; audit what would be placed")
        ] = False,
    ) -> None:
        """Guard every account of CONFIG until SIGTERM/SIGINT; SIGHUP reloads the config."""
        from guard.operator.console.http import install_console
        from guard.service.logs import configure, install_crash_hooks
        from guard.service.runner import Runner

        configure()  # every line on stdout is JSON, the libraries' too
        install_crash_hooks()
        try:
            runner = Runner(config, dry_run=dry_run)
        except ConfigError as error:
            fail(str(error))
        except Exception as error:  # a database not migrated or unreachable, a bad secret
            if is_outage(error):  # one line; a supervisor retries (the journal flushes then)
                cause = getattr(error, "orig", None) or error
                first = (str(cause).strip().splitlines() or [""])[0].strip()[:200]
                errors.print(
                    f"[bold red]error:[/] {escape(f'database unreachable ({type(cause).__name__}: {first})')}: "
                    "guard run needs it to start (schema, rule memory, pending intents) unless "
                    "service.journal is set and its known file exists (written while the database "
                    "answered); nothing was sent, the journal (if any) is flushed at the next start",
                    highlight=False,
                    soft_wrap=True,
                )
                raise SystemExit(EXIT_UNREACHABLE) from None
            fail(f"{type(error).__name__}: {error}", code=1)
        install_console(runner)
        raise SystemExit(asyncio.run(runner.run()))
