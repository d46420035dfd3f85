"""`guard report funding|stress|shadow`: an account's funding carry, its book under correlated
shocks, or what a dry-run account would have done; read-only (venue reads, the audit log), as
rich tables or --json. Paper accounts are read from their state file, never written."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from guard.core.venues.base import VenueRules
from guard.core.yaml_model import ConfigError
from guard.gateway.base import Gateway, GatewayError
from guard.operator.commands.common import (
    DEFAULT_DATABASE,
    console,
    errors,
    fail,
    open_store,
    parse_time,
    print_json,
)
from guard.operator.commands.db import DbOption, ready_store
from guard.service.config import AccountConfig, GuardConfig, load_config
from guard.service.files import load_policies
from guard.service.reports import KINDS, Report, build_report, document, tables
from guard.store import Store

ConfigOption = Annotated[
    Path, typer.Option(help="guard.yaml of the service (accounts, policies, credentials)")
]
AccountOption = Annotated[
    str | None, typer.Option(help="one account (default: every account; shadow: dry-run ones)")
]
SinceOption = Annotated[
    str | None,
    typer.Option(
        help="ISO-8601 UTC start, e.g. 2024-08-05T00:00Z (paper accounts: their virtual time; "
        "default: a day back for funding, everything for shadow)"
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON")]


def _gateway(account: AccountConfig) -> tuple[Gateway, VenueRules]:
    from guard.service.assembly import ccxt_gateway, read_paper

    if account.is_paper:
        if account.state_file is None or not account.state_file.exists():
            errors.print(
                f"note: paper account {account.name} has no saved state "
                f"({account.state_file or 'no state_file'}): this is its scenario at the start",
                highlight=False,
            )
        venue = read_paper(account, datetime.now(UTC))
        return venue, venue.rules
    from guard.core.venues.registry import rules_for

    return ccxt_gateway(account.venue, [account], account.base_url), rules_for(account.venue)


async def _one(kind: str, account: AccountConfig, store: Store | None, since: Any) -> Report:
    gateway, rules = _gateway(account)
    try:
        return await build_report(
            kind,
            account=account.name,
            gateway=gateway,
            rules=rules,
            policies=load_policies(account.policies),
            store=store,
            since=since,
            dry_run=account.dry_run,
        )
    finally:
        await gateway.close()


def _chosen(config: GuardConfig, path: Path, name: str | None, kind: str) -> list[AccountConfig]:
    if name is not None:
        for account in config.accounts:
            if account.name == name:
                return [account]
        names = ", ".join(a.name for a in config.accounts)
        fail(f"{path}: no account named {name!r}; accounts: {names}")
    if kind == "shadow":
        dry = [a for a in config.accounts if a.dry_run]
        if not dry:
            fail(f"{path}: no dry-run account (the shadow report is for `dry_run: true` accounts)")
        return dry
    return list(config.accounts)


def _print(report: Report) -> None:
    for text in tables(report):
        table = Table(title=text.title)
        for column in text.columns:
            table.add_column(column, overflow="fold")
        for row in text.rows:
            table.add_row(*row)
        console.print(table)
        for note in text.notes:
            console.print(note, highlight=False, markup=False)


def _chart(report: Report, out: Path, several: bool) -> None:
    from guard.core.reports.stress_report import StressReport
    from guard.lab.report_chart import draw_stress  # matplotlib: only when a chart is asked for

    assert isinstance(report, StressReport)
    path = out.with_name(f"{out.stem}-{report.account}{out.suffix}") if several else out
    errors.print(f"chart: {draw_stress(report, path)}", highlight=False)


def run_report(
    kind: str,
    config: Path,
    account: str | None,
    since: str | None,
    json: bool,
    db: str | None,
    chart: Path | None = None,
) -> None:
    try:
        loaded = load_config(config)
    except (ConfigError, OSError) as error:
        fail(str(error))
    start = parse_time(since, "--since") if since is not None else None
    accounts = _chosen(loaded, config, account, kind)
    store = None
    if kind == "shadow":  # the audit log's dry-run orders
        store = ready_store(db or _service_database(loaded))
    elif kind == "stress":  # the live rule memory (ladder steps already taken)
        store = _memory_store(db or _service_database(loaded))
    documents = []
    for chosen in accounts:
        try:
            report = asyncio.run(_one(kind, chosen, store, start))
        except ConfigError as error:
            fail(str(error))
        except (GatewayError, ValueError) as error:
            fail(f"{chosen.venue} account {chosen.name}: {error}", code=1)
        if chart is not None:
            _chart(report, chart, len(accounts) > 1)
        if json:
            documents.append(document(report))
        else:
            _print(report)
    if json:
        print_json({"reports": documents})


def _memory_store(db: str | None) -> Store | None:
    """The store holding the guard's rule memory; None (a fresh memory, said on stderr) when no
    guard has run on it yet: a SQLite file that does not exist (not created here) or a database
    never migrated. An unreachable server is an error: its memory is unknown."""
    url = db or os.environ.get("GUARD_DATABASE_URL") or DEFAULT_DATABASE
    path = url.split(":///", 1)[1] if url.startswith("sqlite:///") else url
    if "://" not in path and not Path(path).exists():
        _fresh_memory(f"{path} does not exist")
        return None
    store = open_store(db)
    if store.current_revision() is None:
        _fresh_memory(f"{store.where} was never migrated")
        return None
    return ready_store(db)


def _fresh_memory(why: str) -> None:
    errors.print(
        f"note: {why} (no guard has run on it): the guard's orders are planned from a fresh "
        "rule memory",
        highlight=False,
    )


def _service_database(config: GuardConfig) -> str | None:
    """The service's own database when its URL can be resolved here, else the CLI default."""
    try:
        return config.service.database()
    except ValueError as error:
        errors.print(f"note: {error}; using the CLI's default database", highlight=False)
        return None


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        help="Funding, stress and shadow (dry-run) reports of the configured accounts.",
        no_args_is_help=True,
    )
    app.add_typer(group, name="report")

    @group.command("funding")
    def funding(
        config: ConfigOption,
        account: AccountOption = None,
        since: SinceOption = None,
        json_output: JsonOption = False,
    ) -> None:
        """Funding paid (+) / received (-) per position and account since --since, the annualised
        rate, the next payment at today's rate, breakeven and the policy's funding triggers."""
        run_report("funding", config, account, since, json_output, None)

    @group.command("stress")
    def stress(
        config: ConfigOption,
        account: AccountOption = None,
        json_output: JsonOption = False,
        chart: Annotated[
            Path | None,
            typer.Option(help="also draw a PNG (ACCOUNT appended to its name for several)"),
        ] = None,
        db: DbOption = None,
    ) -> None:
        """Every mark moved together -10/-20/-30 % and +10/+20/+30 % plus the policy's shocks:
        equity, liquidated pools (cross, each isolated position), the guard's first orders."""
        run_report("stress", config, account, None, json_output, db, chart)

    @group.command("shadow")
    def shadow(
        config: ConfigOption,
        account: AccountOption = None,
        since: SinceOption = None,
        json_output: JsonOption = False,
        db: DbOption = None,
    ) -> None:
        """What a dry-run account would have sold or bought back, when, at what price, and what
        that would have saved (+) or cost (-) at today's marks."""
        run_report("shadow", config, account, since, json_output, db)


__all__ = ["KINDS", "register"]
