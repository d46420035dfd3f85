"""`guard inspect`: account and per-position risk metrics of a saved ccxt snapshot file."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from guard.core.domain import MarketSpec
from guard.core.liquidation_check import cross_check_liquidation
from guard.core.margin import AccountMetrics, measure
from guard.core.numbers import market_price, market_quantity, money_text, plain, ratio_text
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
    return None if value is None else plain(value)


def as_json(metrics: AccountMetrics) -> dict[str, Any]:
    """The `--json` document: exact decimal strings in plain notation, null where unknown (the
    tables round to the market's precision; a program reading JSON gets the exact figure)."""
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


def _or_dash(value: Decimal | None, text: Callable[[Decimal], str]) -> str:
    return "-" if value is None else text(value)


def _leverage(value: Decimal) -> str:
    return str(value) if not value.is_finite() else f"{plain(value.quantize(Decimal('0.01')))}x"


def _print_tables(parsed: ParsedSnapshot, metrics: AccountMetrics) -> None:
    """Money to the cent, ratios in %, each position's prices at its market's tick and its
    quantity at the market's amount step."""
    snap = parsed.snapshot
    account = Table(title=f"{snap.venue} account {snap.account} ({snap.balance.currency})")
    for column in ("equity", "maintenance", "margin ratio", "free collateral", "leverage"):
        account.add_column(column, justify="right")
    account.add_row(
        money_text(metrics.equity),
        money_text(metrics.maintenance_margin),
        _or_dash(metrics.margin_ratio, ratio_text),
        _or_dash(metrics.free_collateral, money_text),
        _or_dash(metrics.leverage, _leverage),
    )
    console.print(account)
    table = Table(title="positions")
    table.add_column("position")
    table.add_column("mode")
    for column in ("qty", "entry", "mark", "liq. price", "distance", "maint.", "venue liq."):
        table.add_column(column, justify="right")
    for p in metrics.positions:
        market = snap.markets.get(p.key.symbol)

        def price(value: Decimal, market: MarketSpec | None = market) -> str:
            return market_price(value, market)

        table.add_row(
            str(p.key),
            p.margin_mode.value,
            market_quantity(p.quantity, market),
            price(p.entry_price),
            price(p.mark_price),
            _or_dash(p.liquidation_price, price),
            _or_dash(p.liquidation_distance, ratio_text),
            money_text(p.maintenance_margin),
            _or_dash(p.venue_liquidation_price, price),
        )
    console.print(table)
