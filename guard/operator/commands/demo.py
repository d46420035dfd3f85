"""`guard demo`: the built-in crash scenario, unguarded and guarded, on SQLite + the paper venue."""

from __future__ import annotations

import asyncio
import logging
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from guard.core.policy.units import parse_percent
from guard.core.yaml_model import ConfigError
from guard.gateway.paper.impact import REPLAY_EXECUTION
from guard.gateway.paper.scenarios import scenario as load_scenario
from guard.lab.demo import RunSummary, run_guarded, run_stop_loss_baseline, run_unguarded
from guard.lab.replay.matrix import HALF_LIQ
from guard.operator.commands.common import (
    changing,
    console,
    database_url,
    fail,
    open_store,
    print_json,
)
from guard.service.files import load_policies
from guard.service.logs import logging_to


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        policy: Annotated[Path, typer.Option(help="policy file guarding the run")] = Path(
            "policies/default.yaml"
        ),
        scenario: Annotated[str, typer.Option(help="built-in scenario")] = "crash",
        seed: Annotated[int, typer.Option(help="scenario seed (deterministic)")] = 7,
        db: Annotated[str | None, typer.Option(help="database path or URL")] = None,
        stop_loss: Annotated[
            str, typer.Option("--stop-loss", help="stop-loss baseline distance from entry")
        ] = "5%",
        json_output: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    ) -> None:
        """Run a crash scenario on the paper venue unguarded, with a stop-loss on each position
        (--stop-loss from entry, and at half the starting liquidation distance), and guarded by
        POLICY."""
        try:
            policies = load_policies([policy])
            chosen = load_scenario(scenario, seed)
            distance = parse_percent(stop_loss)
            if not Decimal(0) < distance < Decimal(1):
                raise ValueError(f"--stop-loss must be between 0% and 100%, got {stop_loss}")
        except (ConfigError, KeyError, ValueError) as error:
            fail(str(error).strip("'\""))
        store = open_store(db, create=True)
        run_id = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
        unguarded = run_unguarded(chosen)
        stopped = asyncio.run(run_stop_loss_baseline(chosen, distance))
        half_liq = asyncio.run(run_stop_loss_baseline(chosen, HALF_LIQ))
        with (
            changing("the guarded demo run may be partly recorded in it"),
            logging_to(sys.stderr, level=logging.ERROR),  # its alerts are in the audit log
        ):
            # filled like the stop-loss baselines (2 s latency, impact memory), not at once
            guarded = asyncio.run(
                run_guarded(
                    chosen,
                    policies,
                    store,
                    account=f"demo-{run_id}",
                    execution=REPLAY_EXECUTION,
                )
            )
        url = database_url(db)
        audit_db = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url
        if json_output:
            print_json(
                {
                    "runs": {
                        "unguarded": unguarded.as_json(),
                        "stop_loss": stopped.as_json(),
                        "stop_half_liq": half_liq.as_json(),
                        "guarded": guarded.as_json(),
                    },
                    "stop_loss": stop_loss,
                    "audit_db": audit_db,
                }
            )
            return
        console.print(f"[bold]{chosen.name}[/]: {chosen.description}")
        table = Table(title="guard demo")
        table.add_column("run")
        columns = ("start equity", "liquidations", "min equity", "final equity", "orders sent")
        for column in columns:
            table.add_column(column, justify="right")
        for name, summary in (
            ("unguarded", unguarded),
            (f"stop-loss {stop_loss}", stopped),
            ("stop ½ liq. dist.", half_liq),
            ("guarded", guarded),
        ):
            _row(table, name, summary)
        console.print(table)
        console.print(f"audit database: {audit_db}  (see it with: guard audit tail -n 30)")


def _row(table: Table, name: str, summary: RunSummary) -> None:
    data = summary.as_json()
    table.add_row(
        name,
        data["starting_equity"],
        str(data["liquidations"]),
        data["min_equity"],
        data["final_equity"],
        str(data["orders"]),
    )
