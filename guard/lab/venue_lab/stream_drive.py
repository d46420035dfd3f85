"""Accounts guarded with stream wake-ups over the venue lab, wired as `guard run` wires them: the
lab's websocket streams (ccxt.pro) → pre-check → coalesced full tick through the ccxt gateway
(REST) → the lab's book. For tests and the reaction-time bench. Not pure (sockets, database)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from guard.core.policy.loading import parse_policy
from guard.core.policy.schema import PolicySet
from guard.core.venues.registry import rules_for
from guard.gateway.ccxt import AccountConfig, CcxtGateway, Credentials, GatewaySettings
from guard.gateway.ccxt.streams import StreamSettings, StreamState, VenueStreams
from guard.lab.venue_lab.drive import lab_gateway
from guard.lab.venue_lab.server import VenueLab
from guard.service import AccountRuntime, GuardService
from guard.service.notify import Notifier
from guard.service.runtime import TickReport
from guard.service.streams import StreamWaker, TickCoalescer
from guard.store import Store


class LabSite(Protocol):
    """Where a lab serves and its clock: a VenueLab here, or one in another process."""

    def base_url(self, venue: str) -> str: ...

    def now(self) -> datetime: ...


def price_ladder(symbols: str, trigger: Decimal, reduce: str = "25%") -> PolicySet:
    """One mark-price exit ladder (long positions of `symbols`, a glob): reduce at `trigger`."""
    text = f"""
version: 1
name: stream-lab
rules:
  - id: price-ladder
    kind: exit_ladder
    metric: mark_price
    direction: below
    select: {{symbols: ["{symbols}"], side: long}}
    bands: [{{trigger: "{trigger}", reduce: "{reduce}"}}]
    rearm: "{trigger * Decimal("1.5")}"
"""
    policy, _ = parse_policy(text, "stream-lab.yaml")
    return PolicySet.of([("stream-lab.yaml", policy)])


class StreamRig:
    """One service over lab accounts of one venue, woken by that venue's lab streams."""

    def __init__(self, service: GuardService, gateways: list[CcxtGateway]) -> None:
        self.service = service
        self.gateways = gateways
        self.coalescer = TickCoalescer(self._woken)
        self.waker = StreamWaker(self.coalescer.wake, notifier=lambda: service.notifier)
        self.reports: list[TickReport] = []
        self.woken_ticks = 0
        self.streams: VenueStreams | None = None

    async def tick(self, name: str) -> TickReport:
        """A full tick, then its facts remembered for the pre-check (as the runner does)."""
        report = await self.service.tick(name)
        runtime = self.service.accounts[name]
        if report.decision is not None and runtime.previous is not None:
            self.waker.remember(name, runtime.previous, report.decision, runtime.policies)
        self.reports.append(report)
        return report

    async def _woken(self, name: str) -> None:
        self.woken_ticks += 1
        await self.tick(name)

    @property
    def state(self) -> StreamState:
        assert self.streams is not None
        return self.streams.state

    async def close(self) -> None:
        await self.coalescer.stop()
        await self.waker.stop()
        for gateway in self.gateways:
            await gateway.close()
        self.service.db.close()


async def stream_rig(
    lab: VenueLab | LabSite,
    venue: str,
    accounts: Mapping[str, Mapping[str, str]],  # paper account -> its lab credentials
    policies: PolicySet,
    store: Store,
    settings: StreamSettings,
    *,
    notifier: Notifier | None = None,
    shared_gateway: bool = True,
    streams: bool = True,
    max_concurrent: int | None = None,  # the venue gateway's requests in flight (None: venue's)
) -> StreamRig:
    """Started streams for `accounts` of `venue` on the lab (first ticks not yet run)."""
    names = list(accounts)
    clock = lab.book.now if isinstance(lab, VenueLab) else lab.now
    if shared_gateway:  # one gateway (one request budget) for the venue, as `guard run` builds
        env = {f"LAB_{n}_{k.upper()}": v for n, creds in accounts.items() for k, v in creds.items()}
        configs = [
            AccountConfig(
                n, venue, Credentials(env={k: f"LAB_{n}_{k.upper()}" for k in accounts[n]})
            )
            for n in names
        ]
        chosen = GatewaySettings(
            api_base=lab.base_url(venue),
            read_attempts=2,
            backoff_base=0.01,
            max_concurrent=max_concurrent,  # None: the venue's (its weight budget on)
        )
        gateway = CcxtGateway(venue, configs, settings=chosen, environ=env, clock=clock)
        gateways = dict.fromkeys(names, gateway)
    else:
        if not isinstance(lab, VenueLab):
            raise TypeError("one gateway per account: the lab must run in this process")
        env = {}
        configs = []
        gateways = {n: lab_gateway(lab, venue, n, c) for n, c in accounts.items()}
    service = GuardService(
        store=store,
        accounts={n: AccountRuntime(n, rules_for(venue), gateways[n], policies) for n in names},
        clock=clock,
        notifier=notifier or Notifier(),
    )
    rig = StreamRig(service, list({id(g): g for g in gateways.values()}.values()))
    if not streams:  # polled only (the bench's baseline)
        return rig
    stream_configs = configs or [
        AccountConfig(n, venue, Credentials(env={k: f"LAB_S_{n}_{k.upper()}" for k in accounts[n]}))
        for n in names
    ]
    stream_env = env or {
        f"LAB_S_{n}_{k.upper()}": v for n, creds in accounts.items() for k, v in creds.items()
    }
    key = f"{venue}@lab"
    rig.streams = VenueStreams(
        venue,
        stream_configs,
        rig.waker.updates_for(key),
        rig.waker.states_for(key),
        settings=settings,
        gateway=GatewaySettings(api_base=lab.base_url(venue), ccxt_rate_limit=False),
        environ=stream_env,
        clock=clock,
    )
    rig.waker.add(key, rig.streams, names)
    await rig.waker.start()
    return rig
