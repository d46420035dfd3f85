"""Fault matrix on the gateway: each scripted venue or network fault and the outcome the guard must
show — no duplicate order, no lost audit event, no retry storm, the loop keeps going."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from guard.domain import OrderStatus, Side
from guard.gateway.faults import Fault, FaultyGateway
from guard.gateway.paper import PaperVenue, PricePath, SlippageModel
from guard.policy.schema import PolicyFile, PolicySet
from guard.service import AccountRuntime, GuardService
from guard.store import Store
from guard.venues.paper import RULES
from tests.builders import T0, D, spec

BTC = "BTC/USDT:USDT"
ACCOUNT = "acct"

# One band at 12 % distance: 1 BTC on 6000 is liquidated near 54,221; at 61,000 the distance is
# 11.1 %, so the first tick plans one reduce-only sell of 0.5 BTC.
POLICY = PolicySet.of(
    [
        (
            "inline",
            PolicyFile.model_validate(
                {
                    "version": 1,
                    "rules": [
                        {
                            "id": "ladder",
                            "kind": "exit_ladder",
                            "metric": "liquidation_distance",
                            "bands": [{"trigger": "12%", "reduce": "50%"}],
                            "rearm": "30%",
                        },
                        {"id": "stale", "kind": "stale_data", "max_age": "2m"},
                    ],
                }
            ),
        )
    ]
)


@dataclass
class Rig:
    venue: PaperVenue
    gateway: FaultyGateway
    store: Store
    service: GuardService

    def advance(self, minutes: int) -> None:
        self.venue.advance_to(self.venue.now + timedelta(minutes=minutes))

    def fills(self) -> int:
        return len(self.venue.accounts[ACCOUNT].fills)

    def position(self) -> Decimal:
        held = self.venue.accounts[ACCOUNT].positions
        return sum((p.quantity for p in held.values()), Decimal(0))

    def events(self, kind: str) -> int:
        return self.store.count_events(kind, ACCOUNT)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    path = PricePath({BTC: tuple((T0 + timedelta(minutes=m), D(61000)) for m in range(0, 60))})
    venue = PaperVenue({BTC: spec(BTC)}, path, slippage=SlippageModel(D(0), D(0)))
    venue.open_account(ACCOUNT, D(6000))
    venue.seed_position(ACCOUNT, BTC, Side.LONG, D(1), D(60000), D(10))
    gateway = FaultyGateway(venue)
    store = Store(f"sqlite:///{tmp_path / 'guard.db'}")
    store.create_schema()
    service = GuardService(
        store=store,
        accounts={ACCOUNT: AccountRuntime(ACCOUNT, RULES, gateway, POLICY)},
        clock=lambda: venue.now,
    )
    yield Rig(venue, gateway, store, service)
    store.dispose()


async def run_ticks(rig: Rig, count: int) -> None:
    for _ in range(count):
        await rig.service.tick(ACCOUNT)
        rig.advance(1)


async def test_create_times_out_before_venue_when_ticked_then_unknown_then_reconciled_once(
    rig: Rig,
) -> None:
    rig.gateway.plan.add("create_order", [Fault.TIMEOUT])
    await run_ticks(rig, 3)
    assert rig.fills() == 0  # never blindly resent by the ticks themselves
    unresolved = rig.store.unresolved_intents(ACCOUNT)
    assert [i.status for i in unresolved] == [OrderStatus.UNKNOWN]
    assert rig.events("order_unknown") == 1
    await rig.service.reconcile()  # start-up reconciliation: not at the venue, young → sent once
    await rig.service.reconcile()
    assert rig.fills() == 1
    assert rig.position() == D("0.5")
    assert rig.store.unresolved_intents(ACCOUNT) == []


@pytest.mark.parametrize("fault", [Fault.TIMEOUT_AFTER_ACCEPT, Fault.RESET_AFTER_ACCEPT])
async def test_venue_accepted_but_answer_lost_when_ticked_then_found_by_client_id_not_resent(
    rig: Rig, fault: Fault
) -> None:
    rig.gateway.plan.add("create_order", [fault])
    await run_ticks(rig, 3)
    await rig.service.reconcile()
    assert rig.fills() == 1
    assert rig.gateway.calls["create_order"] == 1
    assert rig.gateway.calls["fetch_order"] >= 1
    intents = rig.store.intents(ACCOUNT)
    assert [i.status for i in intents] == [OrderStatus.FILLED]


@pytest.mark.parametrize("fault", [Fault.RATE_LIMITED, Fault.SERVER_ERROR, Fault.TIMEOUT])
async def test_snapshot_read_fails_when_ticked_then_error_audited_and_next_tick_acts(
    rig: Rig, fault: Fault
) -> None:
    rig.gateway.plan.add("fetch_snapshot", [fault])
    await rig.service.tick(ACCOUNT)
    assert rig.events("error") == 1 and rig.fills() == 0
    await rig.service.tick(ACCOUNT)
    assert rig.fills() == 1


async def test_reduce_only_rejected_when_ticked_again_then_recorded_once_and_no_retry_storm(
    rig: Rig,
) -> None:
    rig.gateway.plan.add("create_order", [Fault.REDUCE_ONLY_REJECTED])
    await run_ticks(rig, 5)
    assert rig.gateway.calls["create_order"] == 1
    assert rig.events("order_rejected") == 1
    assert [i.status for i in rig.store.intents(ACCOUNT)] == [OrderStatus.REJECTED]


async def test_partial_fill_when_ticked_again_then_recorded_and_step_not_resent(rig: Rig) -> None:
    rig.gateway.plan.add("create_order", [Fault.PARTIAL_FILL])
    await run_ticks(rig, 4)
    assert rig.gateway.calls["create_order"] == 1
    assert rig.position() == D("0.75")
    intents = rig.store.intents(ACCOUNT)
    assert [i.status for i in intents] == [OrderStatus.PARTIALLY_FILLED]
    assert intents[0].filled_quantity == D("0.25")
    assert rig.events("order_partially_filled") == 1


async def test_stale_snapshot_when_ticked_then_no_order_and_alert(rig: Rig) -> None:
    rig.gateway.plan.add("fetch_snapshot", [Fault.STALE])
    await rig.service.tick(ACCOUNT)
    assert rig.fills() == 0 and rig.gateway.calls["create_order"] == 0
    assert rig.events("alert") >= 1
    await rig.service.tick(ACCOUNT)
    assert rig.fills() == 1


async def test_contradictory_snapshot_when_ticked_then_no_order_and_alert(rig: Rig) -> None:
    rig.gateway.plan.add("fetch_snapshot", [Fault.CONTRADICTORY])
    await rig.service.tick(ACCOUNT)
    assert rig.gateway.calls["create_order"] == 0
    assert rig.events("alert") + rig.events("error") >= 1
    await rig.service.tick(ACCOUNT)
    assert rig.fills() == 1


async def test_auth_refused_when_ticked_then_account_stops_acting_and_error_audited(
    rig: Rig,
) -> None:
    rig.gateway.plan.add("fetch_snapshot", [Fault.AUTH])
    await run_ticks(rig, 3)
    assert rig.fills() == 0
    assert rig.gateway.calls["fetch_snapshot"] == 1  # no hammering a venue that refused the key
    assert rig.events("error") == 1


async def test_audit_chain_when_faults_injected_then_intact(rig: Rig) -> None:
    rig.gateway.plan.add("create_order", [Fault.TIMEOUT_AFTER_ACCEPT])
    rig.gateway.plan.add("fetch_snapshot", [Fault.SERVER_ERROR])
    await run_ticks(rig, 4)
    assert rig.store.verify_chain()[0]
