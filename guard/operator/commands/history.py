"""`guard history download`: candles and funding of one market through ccxt into replay CSVs."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from guard.lab.replay.history import (
    Download,
    HistoryError,
    download_history,
    parse_time,
    timeframe_ms,
)
from guard.operator.commands.common import console, fail, print_json


def register(app: typer.Typer) -> None:
    history = typer.Typer(help="Market history for `guard replay`.", no_args_is_help=True)
    app.add_typer(history, name="history")

    @history.command("download")
    def download(
        venue: Annotated[str, typer.Option(help="venue name, e.g. binance, bybit, okx")],
        symbol: Annotated[str, typer.Option(help="unified ccxt symbol, e.g. BTC/USDT:USDT")],
        since: Annotated[
            str, typer.Option(help="start (UTC): 2024-08-01, 2024-08-01T12:00, epoch ms")
        ],
        until: Annotated[str, typer.Option(help="end, exclusive (same formats)")],
        timeframe: Annotated[str, typer.Option(help="candle timeframe")] = "1m",
        out: Annotated[Path, typer.Option(help="folder for the CSV files")] = Path("var/history"),
        json_output: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    ) -> None:
        """Download candles (timestamp_ms,open,high,low,close,volume) and funding
        (timestamp_ms,funding_rate) of SYMBOL on VENUE between SINCE and UNTIL."""
        try:
            start, end = parse_time(since), parse_time(until)
            timeframe_ms(timeframe)
            exchange = _client(venue)
        except ValueError as error:
            fail(str(error))
        try:
            result = asyncio.run(_run(exchange, venue, symbol, start, end, timeframe, out))
        except (HistoryError, ValueError) as error:
            fail(str(error), code=1)
        if json_output:
            print_json(
                {
                    "candles": str(result.candles_path),
                    "funding": str(result.funding_path),
                    "candle_rows": result.candles,
                    "funding_rows": result.funding,
                    "requests": result.requests,
                }
            )
            return
        console.print(
            f"{result.candles} candles → {result.candles_path}\n"
            f"{result.funding} funding rows → {result.funding_path}\n"
            f"({result.requests} requests)"
        )


def _client(venue: str) -> Any:
    """The public (unauthenticated) ccxt client of `venue`, from the ccxt gateway module."""
    from guard.gateway.ccxt import public_client

    return public_client(venue)


async def _run(
    exchange: Any,
    venue: str,
    symbol: str,
    since: datetime,
    until: datetime,
    timeframe: str,
    out: Path,
) -> Download:
    try:
        return await download_history(
            exchange,
            venue=venue,
            symbol=symbol,
            since=since,
            until=until,
            timeframe=timeframe,
            out=out,
        )
    finally:
        await exchange.close()
