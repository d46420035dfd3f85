"""The crash scenario through real ccxt over HTTP against the venue lab, ticked as `guard run`
ticks an account (GuardService.tick after each virtual-time step), and summarised like the
in-process paper demo so both runs compare. Not pure (sockets, database)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from guard.core.policy.schema import PolicySet
from guard.core.venues.registry import rules_for
from guard.gateway.ccxt import AccountConfig, CcxtGateway, Credentials, GatewaySettings
from guard.gateway.paper.scenarios import Scenario
from guard.lab.demo import RunSummary, summarise
from guard.lab.venue_lab.server import VenueLab
from guard.service import AccountRuntime, GuardService
from guard.store import Store


@dataclass(frozen=True, slots=True)
class WireRun:
    """A guarded run over the wire: the paper book's summary and what the lab saw."""

    summary: RunSummary
    ticks: int
    errors: tuple[str, ...]
    rejections: int
    orders_accepted: int


def lab_gateway(
    lab: VenueLab,
    venue: str,
    account: str,
    credentials: Mapping[str, str],
    **settings: object,
) -> CcxtGateway:
    """A CcxtGateway of one account pointed at the lab (environment given, not read)."""
    env = {f"LAB_{name.upper()}": value for name, value in credentials.items()}
    config = AccountConfig(
        account, venue, Credentials(env={name: f"LAB_{name.upper()}" for name in credentials})
    )
    chosen = GatewaySettings(
        api_base=lab.base_url(venue),
        ccxt_rate_limit=False,
        read_attempts=2,
        backoff_base=0.01,
        backoff_max=0.05,
    )
    for name, value in settings.items():
        object.__setattr__(chosen, name, value)
    return CcxtGateway(venue, [config], settings=chosen, environ=env, clock=lab.book.now)


@dataclass(frozen=True, slots=True)
class WireAccount:
    """One account of a multi-venue run: its venue, paper account and credentials."""

    venue: str
    paper_account: str
    credentials: Mapping[str, str]


async def run_many_over_wire(
    lab: VenueLab,
    scenario: Scenario,
    accounts: Sequence[WireAccount],
    policies: PolicySet,
    store: Store,
) -> dict[str, WireRun]:
    """Every account guarded at once by one service, each through its venue's ccxt client over
    HTTP, on the lab's one market path: each virtual step, every account is ticked (concurrently,
    as the runner's jobs would be), then time moves on. Keyed by paper account."""
    gateways = {
        a.paper_account: lab_gateway(lab, a.venue, a.paper_account, a.credentials) for a in accounts
    }
    service = GuardService(
        store=store,
        accounts={
            a.paper_account: AccountRuntime(
                a.paper_account, rules_for(a.venue), gateways[a.paper_account], policies
            )
            for a in accounts
        },
        clock=lab.book.now,
    )
    errors: dict[str, list[str]] = {a.paper_account: [] for a in accounts}
    sent = dict.fromkeys(errors, 0)
    ticks = 0
    before = {a.paper_account: _rejections(lab, a) for a in accounts}
    starting = {a.paper_account: lab.book.paper.equity(a.paper_account) for a in accounts}
    try:
        await service.reconcile()
        while True:
            reports = await asyncio.gather(*(service.tick(name) for name in errors))
            ticks += 1
            for report in reports:
                if report.error is not None:
                    errors[report.account].append(report.error)
                if report.execution is not None:
                    sent[report.account] += report.execution.sent
            if lab.book.now() >= scenario.end:
                break
            lab.book.advance_to(min(lab.book.now() + scenario.tick, scenario.end))
    finally:
        for gateway in gateways.values():
            await gateway.close()
        service.db.close()
    runs = {}
    for a in accounts:
        name = a.paper_account
        accepted = [o for o in lab.book.all_orders(a.venue, name) if o.filled > 0 or o.open]
        runs[name] = WireRun(
            summarise(lab.book.paper, sent[name], starting[name], name),
            ticks,
            tuple(errors[name]),
            _rejections(lab, a) - before[name],
            len(accepted),
        )
    return runs


def _rejections(lab: VenueLab, account: WireAccount) -> int:
    return sum(1 for r in lab.rejections if r.venue == account.venue)


async def run_over_wire(
    lab: VenueLab,
    scenario: Scenario,
    venue: str,
    paper_account: str,
    credentials: Mapping[str, str],
    policies: PolicySet,
    store: Store,
) -> WireRun:
    """Tick `paper_account` (reached as `venue`) through the scenario one step at a time."""
    gateway = lab_gateway(lab, venue, paper_account, credentials)
    service = GuardService(
        store=store,
        accounts={
            paper_account: AccountRuntime(paper_account, rules_for(venue), gateway, policies)
        },
        clock=lab.book.now,
    )
    errors: list[str] = []
    orders = ticks = 0
    before = len(lab.rejections)
    starting = lab.book.paper.equity(paper_account)
    try:
        await service.reconcile()
        while True:
            report = await service.tick(paper_account)
            ticks += 1
            if report.error is not None:
                errors.append(report.error)
            if report.execution is not None:
                orders += report.execution.sent
            if lab.book.now() >= scenario.end:
                break
            step_to: datetime = min(lab.book.now() + scenario.tick, scenario.end)
            lab.book.advance_to(step_to)
    finally:
        await gateway.close()
        service.db.close()
    accepted = [o for o in lab.book.all_orders(venue, paper_account) if o.filled > 0 or o.open]
    return WireRun(
        summarise(lab.book.paper, orders, starting, paper_account),
        ticks,
        tuple(errors),
        len(lab.rejections) - before,
        len(accepted),
    )
