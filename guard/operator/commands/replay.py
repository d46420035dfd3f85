"""`guard replay`: history (CSV candles + funding) or a scenario through the paper venue three
ways (unguarded, guarded, stop-loss), with a table or JSON, a PNG chart and the audit database."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import structlog
import typer
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table

from guard.core.policy.units import parse_duration, parse_percent
from guard.core.yaml_model import ConfigError
from guard.gateway.paper.data import DataError
from guard.gateway.paper.scenarios import scenario as load_scenario
from guard.lab.demo import fresh_store
from guard.lab.replay.inputs import load_setup
from guard.lab.replay.matrix_command import run_matrix_command
from guard.lab.replay.report import COLUMNS, report_json
from guard.lab.replay.runner import ProgressHook, ReplayResult, replay
from guard.lab.replay.setup import ReplaySetup, from_scenario
from guard.operator.commands.common import console, errors, fail, print_json
from guard.service.files import load_policies
from guard.service.logs import configure

LONG_RUN = 5000  # stops per run above which a progress bar is shown


def register(app: typer.Typer) -> None:
    @app.command("replay")
    def replay_command(
        candles: Annotated[
            list[Path] | None,
            typer.Option("--candles", help="CSV timestamp_ms,open,high,low,close,volume (repeat)"),
        ] = None,
        funding: Annotated[
            list[Path] | None,
            typer.Option("--funding", help="CSV timestamp_ms,funding_rate (repeat)"),
        ] = None,
        symbol: Annotated[
            list[str] | None,
            typer.Option(
                "--symbol",
                help="symbol of the i-th --candles (and i-th --funding) file; default: file name",
            ),
        ] = None,
        portfolio: Annotated[
            Path | None, typer.Option(help="portfolio YAML: venue, collateral, positions")
        ] = None,
        scenario: Annotated[
            str | None, typer.Option(help="a scenario name or file instead of CSV history")
        ] = None,
        seed: Annotated[int, typer.Option(help="scenario seed (deterministic)")] = 7,
        policy: Annotated[Path, typer.Option(help="policy file guarding the run")] = Path(
            "policies/default.yaml"
        ),
        tick: Annotated[
            str | None,
            typer.Option(
                help="guard tick in virtual time, e.g. 5m (default: 60s, or the scenario's tick)"
            ),
        ] = None,
        stop_loss: Annotated[
            str, typer.Option("--stop-loss", help="stop-loss baseline distance from entry")
        ] = "5%",
        out: Annotated[
            Path | None,
            typer.Option(
                help="folder for report.json, chart.png and audit.db (--sweep: sweep-heatmap.png)"
            ),
        ] = None,
        json_output: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
        table: Annotated[
            bool,
            typer.Option(
                "--table",
                help="run POLICY over every episode and scenario (the acceptance matrix)",
            ),
        ] = False,
        sweep: Annotated[
            list[str] | None,
            typer.Option(
                "--sweep",
                help="vary a policy parameter over the matrix: RULE.FIELD=V1,V2 (repeat)",
            ),
        ] = None,
        holdout: Annotated[
            bool,
            typer.Option(
                "--holdout",
                help="run POLICY over the held-out episodes it was not tuned on (vs two stops)",
            ),
        ] = False,
        holdout_set: Annotated[
            str,
            typer.Option(
                "--holdout-set",
                help="--holdout: 'third' (seeds 1801-1808, fixed before the shipped policies "
                "were chosen), 'second' (seeds 1701-1707: held out for the default, tuned on for "
                "the volatility-gated example) or 'first' (seeds 1601-1605 and the mirrored 2020 "
                "crash: seen, it shaped the default's rules)",
            ),
        ] = "third",
        market_dir: Annotated[
            Path, typer.Option(help="folder of the real episodes for --table/--sweep/--holdout")
        ] = Path("../shared/data/market"),
        only: Annotated[
            list[str] | None,
            typer.Option(help="--table/--sweep: only episodes whose name contains this (repeat)"),
        ] = None,
    ) -> None:
        """Replay history or a scenario unguarded, guarded by POLICY, and with plain stop-losses."""
        if table or sweep or holdout:
            if holdout_set not in ("third", "second", "first"):
                typer.echo(
                    f"error: --holdout-set must be third, second or first, got {holdout_set}",
                    err=True,
                )
                raise typer.Exit(2)
            run_matrix_command(
                policy,
                sweep or [],
                market_dir,
                only or [],
                holdout=holdout_set if holdout else None,
                out=out,
            )
            return
        try:
            policies = load_policies([policy])
            setup, default_tick = _setup(
                candles or [], funding or [], symbol or [], portfolio, scenario, seed
            )
            tick_every = parse_duration(tick) if tick is not None else default_tick
            if tick_every.total_seconds() <= 0:
                raise ValueError(f"--tick must be a positive duration, got {tick}")
            distance = parse_percent(stop_loss)
            if not Decimal(0) < distance < Decimal(1):
                raise ValueError(f"--stop-loss must be between 0% and 100%, got {stop_loss}")
        except (ConfigError, DataError, KeyError, ValueError) as error:
            fail(str(error).strip("'\""))
        draw = _chart_drawer()  # before the runs: a missing extra is said at once
        folder = out or Path("var/replay") / datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        folder.mkdir(parents=True, exist_ok=True)
        audit_db = folder / "audit.db"
        store = fresh_store(audit_db)
        # one log line per guard tick would drown the report: warnings and errors only, on
        # stderr, for this command only
        previous_logging = structlog.get_config()
        configure(stream=sys.stderr, level=logging.WARNING)
        try:
            with _ProgressBar(setup, quiet=json_output) as hook:
                result = asyncio.run(
                    replay(setup, policies, store, tick_every, distance, progress=hook)
                )
        finally:
            structlog.configure(**previous_logging)
            store.dispose()
        chart = draw(setup, result, folder / "chart.png")
        report = report_json(
            setup,
            result,
            tick=f"{tick_every.total_seconds():g}s",
            stop_loss=distance,
            policy=str(policy),
            audit_db=str(audit_db),
            chart=str(chart),
        )
        (folder / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        if json_output:
            print_json(report)
            return
        _table(report)
        console.print(
            f"chart: {chart}\naudit database: {audit_db}\nreport: {folder / 'report.json'}"
        )


def _setup(
    candles: list[Path],
    funding: list[Path],
    symbols: list[str],
    portfolio: Path | None,
    scenario: str | None,
    seed: int,
) -> tuple[ReplaySetup, timedelta]:
    if scenario is not None:
        if candles or funding or portfolio is not None:
            raise ValueError(
                "--scenario replaces --candles, --funding and --portfolio; give one or the other"
            )
        chosen = load_scenario(scenario, seed)
        return from_scenario(chosen), chosen.tick
    if portfolio is None:
        raise ValueError("--portfolio FILE is required with --candles (or use --scenario NAME)")
    return load_setup(candles, funding, symbols, portfolio), timedelta(seconds=60)


class _ProgressBar:
    """A rich progress bar on stderr for long runs; a no-op context otherwise."""

    def __init__(self, setup: ReplaySetup, quiet: bool) -> None:
        self.enabled = not quiet and len(setup.path.all_times) >= LONG_RUN
        self.bar: Progress | None = None
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> ProgressHook | None:
        if not self.enabled:
            return None
        self.bar = Progress(
            TextColumn("{task.description:>10}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} stops"),
            TimeRemainingColumn(),
            console=errors,
        )
        self.bar.start()
        return self.hook

    def hook(self, run: str, done: int, total: int) -> None:
        assert self.bar is not None
        if run not in self.tasks:
            self.tasks[run] = self.bar.add_task(run, total=total)
        self.bar.update(self.tasks[run], completed=done)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def _cell(key: str, value: object) -> str:
    if key == "first_order_at" and isinstance(value, str):
        return value[5:16].replace("T", " ")  # MM-DD HH:MM
    return str(value)


def _table(report: dict[str, object]) -> None:
    setup = report["setup"]
    assert isinstance(setup, dict)
    console.print(
        f"[bold]{setup['name']}[/]  {setup['start']} → {setup['end']}  venue {setup['venue']}, "
        f"tick {setup['tick']}, stop-loss {setup['stop_loss']}, policy {setup['policy']}, "
        f"price path: {setup['price']} candles"
    )
    runs = report["runs"]
    assert isinstance(runs, dict)
    names = list(runs)
    # two tables so each fits a terminal: the three classic runs, then the further baselines
    for title, group in (("guard replay", names[:3]), ("stop baselines", names[3:])):
        if not group:
            continue
        table = Table(title=title)
        table.add_column("", no_wrap=True)
        for name in group:
            table.add_column(name, justify="right", no_wrap=True)
        for key, heading in COLUMNS:
            table.add_row(heading, *(_cell(key, runs[name][key]) for name in group))
        console.print(table)
    for name, figures in runs.items():
        for rule, share in figures["rule_contributions"].items():
            console.print(
                f"{name}: {rule}: {share['orders']} order(s), {share['notional']} reduced"
            )
        for warning in figures["warnings"]:
            console.print(f"[yellow]warning[/]: {warning}")


def _chart_drawer() -> Callable[[ReplaySetup, ReplayResult, Path], Path]:
    """The chart's draw function; matplotlib is the optional `lab` extra, imported only here."""
    try:
        from guard.lab.replay.chart import draw
    except ImportError as error:
        fail(
            f"the replay chart needs matplotlib ({error}): pip install 'guard[lab]'"
            " (the service and the other commands do not need it)",
            code=1,
        )
    return draw
