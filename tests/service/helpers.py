"""Shared set-up of the service tests: the crash scenario on the paper venue, driven by hand in
virtual time, and a service with every rail on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from guard.core.domain import AccountSnapshot, OrderPlan, OrderResult
from guard.core.rails import BreakerLimits, SanityBounds
from guard.gateway.paper.scenarios import crash
from guard.gateway.paper.venue import PaperVenue
from guard.service import AccountRuntime, GuardService, RailSettings, TickReport
from guard.service.files import load_policies
from guard.service.metrics import Health, Metrics
from guard.service.notify import Notifier
from guard.store import Store

ROOT = Path(__file__).resolve().parents[2]
# service mechanics run on a fixed fixture policy, not on the tuned default (see its header)
POLICY = ROOT / "tests" / "service" / "mechanics-policy.yaml"
ACCOUNT = "acct"


def rails(
    *,
    max_orders: int = 100,
    max_notional: Decimal = Decimal(10_000_000),
    staleness: timedelta = timedelta(minutes=2),
) -> RailSettings:
    return RailSettings(
        staleness=staleness,
        breakers=BreakerLimits(
            timedelta(hours=1), max_orders, max_notional, 1000, Decimal(100_000_000)
        ),
        sanity=SanityBounds(Decimal("0.5"), Decimal("0.5")),
    )


@dataclass
class Rig:
    venue: PaperVenue
    service: GuardService
    store: Store

    @property
    def runtime(self) -> AccountRuntime:
        return self.service.accounts[ACCOUNT]

    async def tick(self) -> TickReport:
        return await self.service.tick(ACCOUNT)

    async def run(self, minutes: int, step: timedelta = timedelta(minutes=1)) -> list[TickReport]:
        reports = []
        end = self.venue.now + timedelta(minutes=minutes)
        while self.venue.now < end:
            self.venue.advance_to(min(self.venue.now + step, end))
            reports.append(await self.tick())
        return reports

    async def run_until_orders(self, limit_minutes: int = 240) -> TickReport:
        """Tick minute by minute until a tick plans orders."""
        for _ in range(limit_minutes):
            self.venue.advance_to(self.venue.now + timedelta(minutes=1))
            report = await self.tick()
            if report.plan is not None and report.plan.orders:
                return report
        raise AssertionError("no orders planned in the whole scenario")


def rig(store: Store, *, dry_run: bool = False, settings: RailSettings | None = None) -> Rig:
    scenario = crash()
    venue = scenario.venue((ACCOUNT,))
    health = Health()
    service = GuardService(
        store=store,
        accounts={
            ACCOUNT: AccountRuntime(
                ACCOUNT,
                venue.rules,
                venue,
                load_policies([POLICY]),
                dry_run=dry_run,
                clock=lambda: venue.now,
            )
        },
        clock=lambda: venue.now,
        rails=settings or rails(),
        notifier=Notifier(),
        health=health,
        metrics=Metrics(health),
    )
    return Rig(venue, service, store)


def kinds(store: Store, account: str = ACCOUNT) -> list[str]:
    return [e.kind for e in store.events() if e.account == account]


def at(moment: datetime) -> str:
    return moment.isoformat()


class RecordingVenue:
    """The paper venue behind a wrapper that records every order sent; subclasses change what
    `fetch_snapshot` returns (a poisoned field, a hook between admission and send)."""

    def __init__(self, venue: PaperVenue) -> None:
        self.venue = venue
        self.sent: list[OrderPlan] = []

    async def fetch_snapshot(self, account: str) -> AccountSnapshot:
        return await self.venue.fetch_snapshot(account)

    async def create_order(self, plan: OrderPlan) -> OrderResult:
        self.sent.append(plan)
        return await self.venue.create_order(plan)

    async def fetch_order(self, account: str, symbol: str, client_id: str) -> OrderResult | None:
        return await self.venue.fetch_order(account, symbol, client_id)

    async def close(self) -> None:
        await self.venue.close()
