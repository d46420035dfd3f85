"""`guard status`: per account, what the guard is doing and how the account stands, and each
position's size, leverage, liquidation price and distance at its last evaluated tick."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from guard.core.numbers import plain, price_text
from guard.operator.commands.common import console, print_json
from guard.operator.commands.db import DbOption, now, ready_store
from guard.operator.commands.pause import ConfigOption, PauseFileOption, active_pauses
from guard.operator.console.views import status_json
from guard.store import AccountStatus


def _age(value: timedelta | None) -> str:
    if value is None:
        return "never"
    seconds = int(value.total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


def _num(value: Decimal | None, places: str = "0.01") -> str:
    return "-" if value is None else str(value.quantize(Decimal(places)))


def _pct(value: Decimal | None) -> str:
    return "-" if value is None else f"{(value * 100).quantize(Decimal('0.1'))}%"


def _leverage(value: Decimal) -> str:
    return "no equity" if not value.is_finite() else f"{value.quantize(Decimal('0.01'))}x"


def _positions_table(rows: list[AccountStatus]) -> Table:
    table = Table(title="positions", box=box.SIMPLE_HEAD, collapse_padding=True, pad_edge=False)
    table.add_column("account", overflow="fold")
    table.add_column("market", overflow="fold")
    table.add_column("side", no_wrap=True)
    for column in ("size", "mark", "lev", "liq price", "liq dist"):
        table.add_column(column, justify="right", no_wrap=True)
    for row in rows:
        for p in row.positions:
            table.add_row(
                row.name,
                p.symbol,
                f"{p.side} {p.margin_mode}".strip(),
                plain(p.quantity),
                price_text(p.mark_price),
                _leverage(p.leverage),
                "-" if p.liquidation_price is None else price_text(p.liquidation_price),
                _pct(p.liquidation_distance),
            )
    return table


def register(app: typer.Typer) -> None:
    @app.command()
    def status(
        json_output: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
        db: DbOption = None,
        config: ConfigOption = None,
        pause_file: PauseFileOption = None,
    ) -> None:
        """Every account: venue, mode, last tick, equity, margin, breaches, intents, locks; and
        the active pauses of the pause file (`guard pause`)."""
        rows = ready_store(db).status(now())
        if json_output:
            print_json([status_json(row) for row in rows])
            return
        if not rows:
            console.print(
                "no accounts yet: they appear once the service has registered or ticked them"
            )
            return
        table = Table(
            title="guard status", box=box.SIMPLE_HEAD, collapse_padding=True, pad_edge=False
        )
        table.add_column("account", overflow="fold", min_width=max(len(r.name) for r in rows))
        table.add_column("mode", no_wrap=True)
        for column in ("tick", "equity", "margin", "liq", "breach", "pend"):
            table.add_column(column, justify="right", no_wrap=True)
        table.add_column("lock", overflow="fold")
        for row in rows:
            mode = {
                "paused": "[bold red]paused[/]",
                "locked": "[red]locked[/]",
                "disabled": "[bold red]disabled[/]",
                "not running": "[dim]not running[/]",
            }.get(row.mode, row.mode)
            venue = row.venue or "unregistered"
            if row.venue and not row.in_config:
                venue += ", not in the running config"
            table.add_row(
                f"{row.name}\n[dim]{venue}[/]",
                mode,
                _age(row.tick_age),
                _num(row.equity),
                _pct(row.margin_ratio),
                _pct(row.worst_liquidation_distance),
                str(row.open_breaches) if row.last_tick_at is not None else "-",
                str(row.pending_intents + row.pending_requests),
                ", ".join(f"#{lock.id}" for lock in row.locks) or "-",
            )
        console.print(table)
        if any(row.positions for row in rows):
            console.print(_positions_table(rows))
        for row in rows:
            if row.disabled_reason is not None:
                console.print(f"[bold red]{row.name} disabled[/]: {row.disabled_reason}")
        for pause in active_pauses(config, pause_file):
            console.print(f"paused: {pause}", style="bold red", markup=False, highlight=False)
        if any(r.venue and not r.in_config for r in rows):
            console.print(
                "[dim]not in the running config: not registered by the service's last start or "
                "reload (removed, or renamed)[/]"
            )
