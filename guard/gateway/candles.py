"""Candles shared by every account of a gateway (I/O through its MarkCandles capability): one fetch
per venue, market and timeframe per closed bar, concurrent askers awaiting the same fetch; a failed
fetch keeps the last series (the core judges its age) and says why."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from guard.core.volatility import CandleSeries
from guard.gateway.base import GatewayError, MarkCandles
from guard.gateway.dryrun import DryRunGateway

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EXTRA_BARS = 2  # the bar still forming, and one before the window for the first true range


@dataclass
class _Entry:
    series: CandleSeries | None
    bars: int  # how many bars were asked for
    bar: int  # index of the bar forming at the fetch (a new one means a bar has closed since)
    problem: str = ""


class CandleCache:
    """Series by (gateway, symbol, timeframe); `fetches` counts the venue requests made."""

    def __init__(self) -> None:
        self._entries: dict[tuple[int, str, timedelta], _Entry] = {}
        self._locks: dict[tuple[int, str, timedelta], asyncio.Lock] = {}
        self.fetches = 0

    async def get(
        self, gateway: object, symbol: str, timeframe: timedelta, bars: int, now: datetime
    ) -> tuple[CandleSeries | None, str]:
        """The series covering `bars` closed bars (fetched at most once per closed bar), and a
        problem ("" when none): the gateway has no candles, or the last fetch failed."""
        if isinstance(gateway, DryRunGateway):
            gateway = gateway.inner  # a read: dry-run accounts share the venue's candles
        venue = getattr(gateway, "venue", type(gateway).__name__)
        if not isinstance(gateway, MarkCandles):
            return None, f"{venue}: this gateway offers no candles"
        key = (id(gateway), symbol, timeframe)
        bar = (now - EPOCH) // timeframe
        async with self._locks.setdefault(key, asyncio.Lock()):
            entry = self._entries.get(key)
            if entry is not None and entry.bar == bar and entry.bars >= bars:
                return entry.series, entry.problem
            self.fetches += 1
            try:
                series = await gateway.fetch_mark_candles(symbol, timeframe, bars + EXTRA_BARS)
                entry = _Entry(series, bars, bar)
            except GatewayError as error:
                kept = entry.series if entry is not None else None
                # bar -1: the next tick asks again (the session already retried with backoff)
                entry = _Entry(kept, bars, -1, f"{venue}: candles of {symbol}: {error}")
            self._entries[key] = entry
            return entry.series, entry.problem
