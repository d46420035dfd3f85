"""`guard venue-lab`: the local venue lab on 127.0.0.1 (each venue's wire protocol and order rules
over the paper engine), for `guard run` accounts whose `base_url` points at it."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Annotated

import typer

from guard.core.yaml_model import ConfigError
from guard.gateway.paper.scenarios import scenario as load_scenario
from guard.lab.venue_lab.cli_support import default_accounts, make_lab, parse_account, serve
from guard.operator.commands.common import console, fail


def register(app: typer.Typer) -> None:
    @app.command("venue-lab")
    def venue_lab(
        port: Annotated[int, typer.Option(help="port on 127.0.0.1 (0: any free port)")] = 8765,
        scenario: Annotated[str, typer.Option(help="scenario name or YAML file")] = "crash",
        seed: Annotated[int, typer.Option(help="scenario seed (deterministic)")] = 7,
        speed: Annotated[
            float, typer.Option(help="virtual seconds per wall second", min=0.001)
        ] = 1.0,
        account: Annotated[
            list[str] | None,
            typer.Option(
                help="VENUE:KEY:PAPER[:SECRET[:PASSPHRASE]][:hedge][:mode=MODE] (repeatable; "
                "default one account per venue, key and paper account lab-<venue>, secret "
                "lab-secret; MODE as the venue states it, e.g. PORTFOLIO_MARGIN on bybit)"
            ),
        ] = None,
    ) -> None:
        """Serve the venue lab until interrupted (Ctrl-C); prints each venue's base_url."""
        try:
            chosen = load_scenario(scenario, seed)
            accounts = [parse_account(a) for a in account] if account else default_accounts()
        except (ConfigError, KeyError, ValueError) as error:
            fail(str(error).strip("'\""))
        lab = make_lab(chosen, accounts, port, Decimal(repr(speed)))

        async def main() -> None:
            ready = asyncio.Event()
            task = asyncio.create_task(serve(lab, ready))
            await ready.wait()
            console.print(f"venue lab: scenario {chosen.name} (seed {seed}), speed {speed}x")
            for venue in sorted(lab.modules):
                keys = ", ".join(a.key for a in accounts if a.venue == venue) or "(no account)"
                console.print(f"  {venue:12} base_url: {lab.base_url(venue)}   accounts: {keys}")
            await task

        try:
            asyncio.run(main())
        except OSError as error:
            fail(f"venue lab: cannot listen on 127.0.0.1:{port} ({error.strerror})")
