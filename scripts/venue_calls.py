#!/usr/bin/env python
"""Venue calls per account per tick, per venue, through the real ccxt clients (recorded cassettes).

For each venue, N accounts share one gateway; every account takes a snapshot per tick (5 s apart
on a fake clock). The first tick loads markets and the slow-changing tables; the printed figures
are the steady state (ticks 2..T): private calls per account per tick, and public calls per tick
for the whole venue (which must not grow with N).

Usage: PYTHONPATH=. .venv/bin/python scripts/venue_calls.py [accounts ...]   (default 1 25)
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from guard.gateway.ccxt import CcxtGateway  # noqa: E402
from tests.gateway.cases import CASES, ENV, RECORDED_AT, settings  # noqa: E402
from tests.gateway.helpers import Wire, replay  # noqa: E402

VENUES = ("binance", "bybit", "okx", "hyperliquid", "dydx")
TICKS = 14  # 65 s: one Hyperliquid account-mode refresh (account_mode_ttl 60 s) falls inside


async def measure(venue: str, accounts: int) -> tuple[float, float]:
    case = CASES[venue]
    names = [f"{case.account}-{i}" for i in range(accounts)]
    now = [RECORDED_AT]
    gateway = CcxtGateway(
        venue,
        [replace(case.config(), name=name) for name in names],
        settings=settings(venue),
        environ=ENV,
        clock=lambda: now[0],
    )
    private, public = Wire(), Wire()
    for name in names:
        private.attach(gateway.client(name))
    public.attach(gateway.public)
    try:
        with replay(venue, "snapshot"):
            for tick in range(TICKS):
                if tick == 1:
                    private.sent.clear()
                    public.sent.clear()
                await asyncio.gather(*(gateway.fetch_snapshot(name) for name in names))
                now[0] += timedelta(seconds=5)
    finally:
        await gateway.close()
    steady = TICKS - 1
    return len(private.sent) / accounts / steady, len(public.sent) / steady


async def main(counts: list[int]) -> None:
    print(f"steady state over ticks 2..{TICKS}, 5 s apart (fake clock), recorded cassettes")
    print(f"{'venue':<12}" + "".join(f"  N={n}: private/acct/tick  public/tick" for n in counts))
    for venue in VENUES:
        row = f"{venue:<12}"
        for n in counts:
            per_account, per_venue = await measure(venue, n)
            row += f"  {'':>4}{per_account:>20.2f}  {per_venue:>11.2f}"
        print(row, flush=True)


if __name__ == "__main__":
    asyncio.run(main([int(a) for a in sys.argv[1:]] or [1, 25]))
