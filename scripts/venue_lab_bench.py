#!/usr/bin/env python
"""Print the venue lab's figures for docs/venue-lab.md: start-up time, and the crash scenario
guarded over HTTP on all five venues at once (wall and CPU time, per-venue outcome next to the
in-process paper run). Everything runs on 127.0.0.1. Usage: .venv/bin/python scripts/venue_lab_bench.py
"""

from __future__ import annotations

import asyncio
import logging
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from guard.gateway.paper.scenarios import crash  # noqa: E402
from guard.lab.demo import fresh_store, run_guarded, run_unguarded  # noqa: E402
from guard.lab.venue_lab import build_lab, venue_portfolio  # noqa: E402
from guard.lab.venue_lab.drive import WireAccount, run_many_over_wire  # noqa: E402
from guard.service.files import load_policies  # noqa: E402
from tests.venue_lab import ACCOUNTS, lab_accounts  # noqa: E402

VENUES = ["binance", "hyperliquid", "bybit", "okx", "dydx"]


async def start_time() -> float:
    began = time.perf_counter()
    lab = build_lab(crash(), lab_accounts())
    await lab.start()
    elapsed = time.perf_counter() - began
    await lab.stop()
    return elapsed


async def main() -> None:
    logging.disable(logging.INFO)
    policies = load_policies([ROOT / "policies" / "default.yaml"])
    starts = [await start_time() for _ in range(5)]
    print(f"lab start (5 runs): max {max(starts) * 1000:.1f} ms, min {min(starts) * 1000:.1f} ms")
    folder = Path(tempfile.mkdtemp(prefix="venuelab-bench-"))
    papers = {}  # the in-process paper run of the portfolio as each venue holds it
    for venue in VENUES:
        scenario = venue_portfolio(crash(), ACCOUNTS[venue].lab_account())
        store = fresh_store(folder / f"p-{venue}.db")
        papers[venue] = await run_guarded(scenario, policies, store, wall_interval=0.001)
    paper = papers["binance"]
    unguarded = run_unguarded(crash())
    lab = build_lab(crash(), lab_accounts(), budgets={})
    await lab.start()
    accounts = [
        WireAccount(ACCOUNTS[v].venue, ACCOUNTS[v].account, ACCOUNTS[v].credentials) for v in VENUES
    ]
    began, cpu = time.perf_counter(), time.process_time()
    try:
        runs = await run_many_over_wire(
            lab, crash(), accounts, policies, fresh_store(folder / "w.db")
        )
    finally:
        await lab.stop()
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu
    print(
        f"five venues over HTTP, {next(iter(runs.values())).ticks} ticks each: "
        f"{wall:.1f} s wall, {cpu:.1f} s CPU (lab + guard), {len(lab.requests)} requests"
    )
    print(
        f"unguarded paper: {unguarded.liquidations} liquidations, "
        f"final equity {unguarded.final_equity:.2f}"
    )
    print(
        f"guarded paper (in process): {paper.liquidations} liquidations, {paper.orders} orders, "
        f"min equity {paper.min_equity:.2f}, final {paper.final_equity:.2f}"
    )
    bybit = papers["bybit"]
    print(
        f"guarded paper, Bybit's portfolio (one account-wide margin mode: all cross): "
        f"{bybit.liquidations} liquidations, {bybit.orders} orders, "
        f"min equity {bybit.min_equity:.2f}, final {bybit.final_equity:.2f}"
    )
    print(
        "| venue | liquidations | orders sent | accepted by the lab | lab rejections | "
        "min equity | final equity | Δ final vs paper |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for venue, account in zip(VENUES, accounts, strict=True):
        run = runs[account.paper_account]
        s = run.summary
        pools = [e.pool for e in lab.book.paper.accounts[account.paper_account].liquidations]
        print(
            f"| {venue} | {s.liquidations} {pools if pools else ''} | {s.orders} | "
            f"{run.orders_accepted} | {run.rejections} | {s.min_equity:.2f} | "
            f"{s.final_equity:.2f} | {s.final_equity - papers[venue].final_equity:+.2f} |"
        )


if __name__ == "__main__":
    asyncio.run(main())
