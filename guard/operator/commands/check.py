"""`guard check FILE...`: validate policy files and print each rule in plain words."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from guard.core.policy.describe import describe
from guard.core.yaml_model import ConfigError
from guard.operator.commands.common import EXIT_INVALID, console, errors
from guard.service.files import load_policies


def check_files(paths: list[Path]) -> int:
    """Validate every file (ids unique across them); print rules or problems; exit code."""
    try:
        policies = load_policies(paths)
    except ConfigError as error:
        for problem in error.problems:
            errors.print(str(problem), highlight=False, markup=False, soft_wrap=True)
        errors.print(
            f"invalid: {len(error.problems)} problem(s); nothing was loaded",
            highlight=False,
            markup=False,
        )
        return EXIT_INVALID
    for source, policy in policies.files:
        title = f"{source}: {policy.name}" if policy.name else source
        console.print(
            f"{title} — {len(policy.rules)} rule(s), valid", highlight=False, markup=False
        )
        for rule in policy.rules:
            console.print(f"  - {describe(rule)}", highlight=False, markup=False, soft_wrap=True)
    console.print(f"fingerprint {policies.fingerprint}", highlight=False, markup=False)
    return 0


def register(app: typer.Typer) -> None:
    @app.command()
    def check(
        files: Annotated[list[Path], typer.Argument(help="policy YAML files")],
    ) -> None:
        """Validate policy files and print each rule in plain words (exit 2 when any is invalid)."""
        raise SystemExit(check_files(files))
