"""`guard inspect`: account and per-position risk metrics of a saved ccxt snapshot file."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from guard.core.liquidation_check import cross_check_liquidation
from guard.core.margin import AccountMetrics, measure
from guard.core.venues.registry import VENUES, rules_for
from guard.gateway.parsers import ParsedSnapshot, PayloadError, parse_snapshot
from guard.operator.commands.common import console, errors, fail, print_json

DEFAULT_TOLERANCE = "0.005"


def register(app: typer.Typer) -> None:
    @app.command()
    def inspect(
        venue: Annotated[str, typer.Option(help=f"venue of the snapshot: {', '.join(VENUES)}")],
        snapshot: Annotated[Path, typer.Option(help="snapshot JSON file (ccxt structures)")],
        account: Annotated[
            str | None, typer.Option(help="account name (default: file stem)")
        ] = None,
        tolerance: Annotated[
            str, typer.Option(help="relative liquidation-price divergence that raises an alert")
        ] = DEFAULT_TOLERANCE,
        json_output: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    ) -> None:
        """Print equity, maintenance, margin ratio, liquidation prices and distances of SNAPSHOT."""
        try:
            rules = rules_for(venue)
        except ValueError as error:
            fail(str(error))
        limit = _tolerance(tolerance)
        raw = _load(snapshot)
        try:
            parsed = parse_snapshot(rules.name, account or snapshot.stem, datetime.now(UTC), raw)
            metrics = measure(parsed.snapshot, rules)
        except (PayloadError, KeyError, ValueError) as error:
            fail(f"{snapshot}: {str(error).strip(chr(39) + chr(34))}")
        alerts = cross_check_liquidation(metrics, limit)
        if json_output:
            print_json(as_json(metrics))
            for note in parsed.notes:
                errors.print(f"note: {note}", highlight=False)
            for alert in alerts:
                errors.print(f"alert: {alert.message}", highlight=False)
            return
        _print_tables(parsed, metrics)
        for note in parsed.notes:
            console.print(f"[dim]note:[/] {note}", highlight=False)
        for alert in alerts:
            console.print(f"[bold yellow]alert:[/] {alert.message}", highlight=False)


def _tolerance(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        fail(f"--tolerance: expected a fraction such as 0.005, got {text!r}")
    if not value.is_finite() or value < 0:
        fail(f"--tolerance: expected a non-negative fraction such as 0.005, got {text!r}")
    return value


def _load(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        fail(f"{path}: cannot read the snapshot file ({error.strerror or error})")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        fail(f"{path}:{error.lineno}:{error.colno}: not valid JSON ({error.msg})")
    if not isinstance(raw, dict):
        fail(
            f"{path}: expected a JSON object with positions, balance, markets, funding_rates, "
            f"account_info; got {type(raw).__name__}"
        )
    return raw


def _num(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def as_json(metrics: AccountMetrics) -> dict[str, Any]:
    """The `--json` document: decimal strings, null where unknown."""
    return {
        "account": {
            "equity": _num(metrics.equity),
            "maintenance_margin": _num(metrics.maintenance_margin),
            "margin_ratio": _num(metrics.margin_ratio),
            "free_collateral": _num(metrics.free_collateral),
            "leverage": _num(metrics.leverage),
        },
        "positions": [
            {
                "symbol": p.key.symbol,
                "side": p.key.side.value,
                "quantity": _num(p.quantity),
                "entry_price": _num(p.entry_price),
                "mark_price": _num(p.mark_price),
                "liquidation_price": _num(p.liquidation_price),
                "liquidation_distance": _num(p.liquidation_distance),
                "maintenance_margin": _num(p.maintenance_margin),
                "venue_liquidation_price": _num(p.venue_liquidation_price),
            }
            for p in metrics.positions
        ],
    }


def _short(value: Decimal | None, places: int = 4) -> str:
    if value is None:
        return "-"
    if not value.is_finite():
        return str(value)
    return f"{value:,.{places}f}"


def _print_tables(parsed: ParsedSnapshot, metrics: AccountMetrics) -> None:
    snap = parsed.snapshot
    account = Table(title=f"{snap.venue} account {snap.account} ({snap.balance.currency})")
    for column in ("equity", "maintenance", "margin ratio", "free collateral", "leverage"):
        account.add_column(column, justify="right")
    account.add_row(
        _short(metrics.equity),
        _short(metrics.maintenance_margin),
        _short(metrics.margin_ratio),
        _short(metrics.free_collateral),
        _short(metrics.leverage, 2),
    )
    console.print(account)
    table = Table(title="positions")
    table.add_column("position")
    table.add_column("mode")
    for column in ("qty", "entry", "mark", "liq. price", "distance", "maint.", "venue liq."):
        table.add_column(column, justify="right")
    for p in metrics.positions:
        table.add_row(
            str(p.key),
            p.margin_mode.value,
            _short(p.quantity, 6),
            _short(p.entry_price),
            _short(p.mark_price),
            _short(p.liquidation_price),
            _short(p.liquidation_distance * 100, 2) + " %"
            if p.liquidation_distance is not None
            else "-",
            _short(p.maintenance_margin),
            _short(p.venue_liquidation_price),
        )
    console.print(table)
