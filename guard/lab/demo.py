"""`guard demo`: a built-in crash on the paper venue, run unguarded, with a plain stop-loss per
position (the replay's baseline) and guarded, the guarded run driven by an APScheduler job in
virtual time; returns a summary per run (starting equity included) and the audit database."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from guard.core.policy.schema import PolicySet
from guard.gateway.paper.impact import NO_LATENCY, ExecutionModel
from guard.gateway.paper.scenarios import Scenario
from guard.gateway.paper.venue import PaperVenue
from guard.lab.replay.baselines import StopBaseline
from guard.lab.replay.runner import run_stop_loss
from guard.lab.replay.setup import from_scenario
from guard.service import AccountRuntime, GuardService
from guard.store import Store

ACCOUNT = "demo"


@dataclass(frozen=True, slots=True)
class RunSummary:
    liquidations: int
    min_equity: Decimal
    final_equity: Decimal
    orders: int
    starting_equity: Decimal

    def as_json(self) -> dict[str, Any]:
        return {
            "starting_equity": str(self.starting_equity.quantize(Decimal("0.01"))),
            "liquidations": self.liquidations,
            "min_equity": str(self.min_equity.quantize(Decimal("0.01"))),
            "final_equity": str(self.final_equity.quantize(Decimal("0.01"))),
            "orders": self.orders,
        }


def summarise(
    venue: PaperVenue, orders: int, starting_equity: Decimal, name: str = ACCOUNT
) -> RunSummary:
    account = venue.accounts[name]
    return RunSummary(
        liquidations=len(account.liquidations),
        min_equity=account.min_equity if account.min_equity is not None else Decimal(0),
        final_equity=venue.equity(name),
        orders=orders,
        starting_equity=starting_equity,
    )


def run_unguarded(scenario: Scenario) -> RunSummary:
    venue = scenario.venue((ACCOUNT,))
    starting = venue.equity(ACCOUNT)
    venue.advance_to(scenario.end)
    return summarise(venue, 0, starting)


async def run_stop_loss_baseline(
    scenario: Scenario, distance: Decimal | StopBaseline
) -> RunSummary:
    """The same portfolio with an exchange-style stop-loss on each whole position, `distance`
    from its entry or placed by a baseline (e.g. at half the starting liquidation distance;
    guard/lab/replay's stop-loss run), as a demo row."""
    result = await run_stop_loss(from_scenario(scenario), distance)
    return RunSummary(
        liquidations=len(result.liquidations),
        min_equity=result.min_equity,
        final_equity=result.final_equity,
        orders=result.orders,
        starting_equity=scenario.venue((ACCOUNT,)).equity(ACCOUNT),
    )


async def run_guarded(
    scenario: Scenario,
    policies: PolicySet,
    store: Store,
    *,
    account: str = ACCOUNT,
    dry_run: bool = False,
    wall_interval: float = 0.005,
    execution: ExecutionModel = NO_LATENCY,
) -> RunSummary:
    """Drive the guarded run with an AsyncIOScheduler interval job; each run of the job advances
    virtual time by one scenario tick and ticks the account, so the outcome does not depend on
    wall-clock timing (coalesced runs only slow it down). `execution`: how the paper venue fills
    (NO_LATENCY: at once at the mark, as the venue lab's venues do; REPLAY_EXECUTION: latency and
    impact memory, as the stop-loss baselines fill)."""
    if execution is NO_LATENCY:
        venue = scenario.venue((account,))
    else:
        venue = replace(from_scenario(scenario), execution=execution).venue(account)
    starting = venue.equity(account)
    service = GuardService(
        store=store,
        accounts={account: AccountRuntime(account, venue.rules, venue, policies, dry_run=dry_run)},
        clock=lambda: venue.now,
    )
    done = asyncio.Event()
    orders = 0

    async def job() -> None:
        nonlocal orders
        if done.is_set():
            return
        step_to: datetime = min(venue.now + scenario.tick, scenario.end)
        venue.advance_to(step_to)
        report = await service.tick(account)
        if report.execution is not None:
            orders += report.execution.sent
        if venue.now >= scenario.end:
            done.set()

    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.add_job(
        job,
        "interval",
        seconds=wall_interval,
        max_instances=1,
        coalesce=True,
        misfire_grace_time=1,
        id=f"tick:{account}",
    )
    await service.reconcile()
    await service.tick(account)  # first tick at the scenario start, before any price move
    # the job is meant to run back to back: its "skipped: maximum number of running instances"
    # warnings are how it runs, not trouble, so they are not shown during the demo
    skips = logging.getLogger("apscheduler.scheduler")
    level = skips.level
    skips.setLevel(logging.ERROR)
    scheduler.start()
    try:
        await done.wait()
    finally:
        scheduler.shutdown(wait=False)
        skips.setLevel(level)
        service.db.close()
    return summarise(venue, orders, starting, account)


def fresh_store(path: Path) -> Store:
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    store = Store(f"sqlite:///{path}")
    store.create_schema()
    return store
