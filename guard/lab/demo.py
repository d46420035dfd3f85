"""`guard demo`: a built-in crash on the paper venue, run unguarded and guarded, driven by an
APScheduler job in virtual time; returns a summary per run and the path of the audit database."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from guard.core.policy.schema import PolicySet
from guard.gateway.paper.scenarios import Scenario
from guard.gateway.paper.venue import PaperVenue
from guard.service import AccountRuntime, GuardService
from guard.store import Store

ACCOUNT = "demo"


@dataclass(frozen=True, slots=True)
class RunSummary:
    liquidations: int
    min_equity: Decimal
    final_equity: Decimal
    orders: int

    def as_json(self) -> dict[str, Any]:
        return {
            "liquidations": self.liquidations,
            "min_equity": str(self.min_equity.quantize(Decimal("0.01"))),
            "final_equity": str(self.final_equity.quantize(Decimal("0.01"))),
            "orders": self.orders,
        }


def summarise(venue: PaperVenue, orders: int, name: str = ACCOUNT) -> RunSummary:
    account = venue.accounts[name]
    return RunSummary(
        liquidations=len(account.liquidations),
        min_equity=account.min_equity if account.min_equity is not None else Decimal(0),
        final_equity=venue.equity(name),
        orders=orders,
    )


def run_unguarded(scenario: Scenario) -> RunSummary:
    venue = scenario.venue((ACCOUNT,))
    venue.advance_to(scenario.end)
    return summarise(venue, 0)


async def run_guarded(
    scenario: Scenario,
    policies: PolicySet,
    store: Store,
    *,
    account: str = ACCOUNT,
    dry_run: bool = False,
    wall_interval: float = 0.005,
) -> RunSummary:
    """Drive the guarded run with an AsyncIOScheduler interval job; each run of the job advances
    virtual time by one scenario tick and ticks the account, so the outcome does not depend on
    wall-clock timing (coalesced runs only slow it down)."""
    venue = scenario.venue((account,))
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
    scheduler.start()
    try:
        await done.wait()
    finally:
        scheduler.shutdown(wait=False)
        service.db.close()
    return summarise(venue, orders, account)


def fresh_store(path: Path) -> Store:
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    store = Store(f"sqlite:///{path}")
    store.create_schema()
    return store
