"""`guard scenario list|show NAME`: the synthetic stress scenarios (built-in and files)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from guard.core.yaml_model import ConfigError
from guard.gateway.paper.scenarios import Scenario, catalogue
from guard.gateway.paper.scenarios import scenario as load_scenario
from guard.operator.commands.common import console, fail, print_json


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        help="Synthetic stress scenarios for `guard replay --scenario`.", no_args_is_help=True
    )
    app.add_typer(group, name="scenario")

    @group.command("list")
    def list_scenarios(
        json_output: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    ) -> None:
        """Every scenario: built-in ones and the files in scenarios/."""
        try:
            entries = catalogue()
        except ConfigError as error:
            fail(str(error))
        if json_output:
            print_json([{"name": n, "description": d, "source": s} for n, d, s in entries])
            return
        table = Table(title="scenarios")
        for column in ("name", "description", "source"):
            table.add_column(column)
        for row in entries:
            table.add_row(*row)
        console.print(table)

    @group.command("show")
    def show(
        name: Annotated[str, typer.Argument(help="scenario name or YAML file")],
        seed: Annotated[int, typer.Option(help="seed (deterministic)")] = 7,
        json_output: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    ) -> None:
        """What a scenario does: path, funding and starting portfolio."""
        try:
            chosen = load_scenario(name, seed)
        except (ConfigError, KeyError) as error:
            fail(str(error).strip("'\""))
        facts = describe(chosen, seed)
        if json_output:
            print_json(facts)
            return
        console.print(f"[bold]{chosen.name}[/] (seed {seed}): {chosen.description.strip()}")
        console.print(f"{facts['start']} → {facts['end']}, guard tick {facts['tick']}")
        table = Table(title="price path")
        for column in (
            "symbol",
            "start",
            "low",
            "high",
            "end",
            "funding settlements",
            "max |rate|",
        ):
            table.add_column(column, justify="right")
        for symbol, row in facts["symbols"].items():
            table.add_row(
                symbol,
                *(
                    str(row[k])
                    for k in (
                        "start",
                        "low",
                        "high",
                        "end",
                        "funding_settlements",
                        "max_abs_funding_rate",
                    )
                ),
            )
        console.print(table)
        console.print(f"collateral {facts['collateral']}")
        for position in facts["positions"]:
            console.print(
                f"  {position['side']} {position['quantity']} {position['symbol']} @ "
                f"{position['entry_price']} {position['leverage']}x {position['margin_mode']}"
            )


def describe(chosen: Scenario, seed: int) -> dict[str, Any]:
    symbols: dict[str, dict[str, Any]] = {}
    for symbol, knots in sorted(chosen.path.knots.items()):
        prices = [price for _, price in knots]
        rates = [rate for _, rate in chosen.funding.get(symbol, ())]
        symbols[symbol] = {
            "start": prices[0],
            "low": min(prices),
            "high": max(prices),
            "end": prices[-1],
            "funding_settlements": len(rates),
            "max_abs_funding_rate": max((abs(r) for r in rates), default=0),
        }
    return {
        "name": chosen.name,
        "seed": seed,
        "description": " ".join(chosen.description.split()),
        "start": chosen.start.isoformat(),
        "end": chosen.end.isoformat(),
        "tick": f"{chosen.tick.total_seconds():g}s",
        "collateral": chosen.collateral,
        "symbols": symbols,
        "positions": [
            {
                "symbol": p.symbol,
                "side": p.side.value,
                "quantity": p.quantity,
                "entry_price": p.entry_price,
                "leverage": p.leverage,
                "margin_mode": p.margin_mode.value,
            }
            for p in chosen.positions
        ],
    }
