"""The egress gate on the service's real paths: a lock, a full breaker or stale data that appears
between admission and send holds the order at send time (audited, alerted, never sent, its step
fires later under the same client id); a human flatten passes locks (audited as overriding) but
not staleness; locks live on the wall clock; dry-run memory never blocks live steps; a flatten is
carried out on the account's next tick."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from guard.core.domain import AccountSnapshot, MarginMode, OrderPlan, OrderStatus, Side
from guard.core.rails import BreakerLimits
from guard.core.venues.paper import RULES
from guard.gateway.paper.book import SlippageModel
from guard.gateway.paper.path import PricePath
from guard.gateway.paper.venue import PaperVenue
from guard.service import AccountRuntime, GuardService, RailSettings
from guard.store import Store
from guard.store.records import AccountInfo
from tests.builders import T0, D, spec
from tests.reliability.test_fault_matrix import POLICY
from tests.service.helpers import RecordingVenue

BTC = "BTC/USDT:USDT"
WALL = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class Between(RecordingVenue):
    """The paper venue, with a hook run on the re-read just before a send (the snapshot read
    that follows admission), so something can happen between admission and send."""

    def __init__(self, venue: PaperVenue) -> None:
        super().__init__(venue)
        self.on_reread: Callable[[], None] | None = None
        self.reads = 0
        self.age: timedelta = timedelta(0)

    async def fetch_snapshot(self, account: str) -> AccountSnapshot:
        self.reads += 1
        snapshot = await self.venue.fetch_snapshot(account)
        if self.reads % 2 == 0 and self.on_reread is not None:  # the executor's re-read
            self.on_reread()
        return replace(snapshot, taken_at=snapshot.taken_at - self.age)


@dataclass
class Rig:
    venue: PaperVenue
    gateway: Between
    store: Store
    service: GuardService
    wall: list[datetime]

    def runtime(self) -> AccountRuntime:
        return self.service.accounts["a"]

    def advance(self, minutes: int = 1) -> None:
        self.venue.advance_to(self.venue.now + timedelta(minutes=minutes))
        self.wall[0] += timedelta(minutes=minutes)

    def events(self, kind: str) -> list[str]:
        return [e.message for e in self.store.tail(500, account="a", kind=kind)]


def _rig(tmp_path: Path, rails: RailSettings = RailSettings()) -> Rig:
    path = PricePath({BTC: tuple((T0 + timedelta(minutes=m), D(61000)) for m in range(90))})
    venue = PaperVenue({BTC: spec(BTC)}, path, slippage=SlippageModel(D(0), D(0)))
    venue.open_account("a", D(6000))
    venue.seed_position("a", BTC, Side.LONG, D(1), D(60000), D(10))
    gateway = Between(venue)
    store = Store(f"sqlite:///{tmp_path / 'guard.db'}")
    store.create_schema()
    wall = [WALL]  # the service's clock: the wall; the account runs on the venue's virtual time
    runtime = AccountRuntime("a", RULES, gateway, POLICY, clock=lambda: venue.now)  # type: ignore[arg-type]
    service = GuardService(store=store, accounts={"a": runtime}, clock=lambda: wall[0], rails=rails)
    return Rig(venue, gateway, store, service, wall)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    made = _rig(tmp_path)
    yield made
    made.store.dispose()


async def test_send_when_lock_committed_after_admission_then_held_audited_alerted_and_fires_after_unlock(
    rig: Rig,
) -> None:
    locks: list[int] = []

    def lock_now() -> None:
        if not locks:
            lock = rig.store.set_lock(
                reason="hands off", actor="alice", at=rig.wall[0], account="a"
            )
            locks.append(lock.id)

    rig.gateway.on_reread = lock_now
    report = await rig.service.tick("a")
    assert rig.gateway.sent == []  # approved at admission, held at the gate
    assert report.execution is not None and len(report.execution.gate_holds) == 1
    [intent] = rig.store.intents("a")
    assert intent.status is OrderStatus.SUPPRESSED
    assert f"lock #{locks[0]}" in intent.message and "at send time" in intent.message
    assert any(f"lock #{locks[0]}" in m for m in rig.events("order_suppressed"))
    assert any("held back" in a.title for a in rig.service.notifier.sent)

    rig.gateway.on_reread = None
    rig.advance()
    await rig.service.tick("a")  # still locked
    assert rig.gateway.sent == []
    rig.store.clear_lock(locks[0], actor="alice", at=rig.wall[0])
    rig.advance()
    await rig.service.tick("a")  # the step's memory was given back: it fires, same client id
    assert [p.client_order_id for p in rig.gateway.sent] == [intent.client_order_id]


async def test_reconcile_when_pending_intent_and_lock_set_across_restart_then_not_sent(
    rig: Rig,
) -> None:
    crash = RuntimeError("killed between admission and send")

    def die() -> None:
        raise crash

    rig.gateway.on_reread = die
    await rig.service.tick("a")  # the tick dies after admission: the intent stays pending
    [pending] = rig.store.unresolved_intents("a")
    assert pending.status is OrderStatus.PENDING
    rig.gateway.on_reread = None
    lock = rig.store.set_lock(reason="restart check", actor="bob", at=rig.wall[0], account="a")
    await rig.service.reconcile()  # start-up: the pending intent goes through the gate
    await rig.service.tick("a")  # and the next tick's resolution too
    assert rig.gateway.sent == []
    [held] = rig.store.intents("a")
    assert held.status is OrderStatus.SUPPRESSED and f"lock #{lock.id}" in held.message
    assert any("held" in a.body or "lock" in a.body for a in rig.service.notifier.sent)


async def test_flatten_when_account_locked_then_sent_on_next_tick_and_override_audited(
    rig: Rig,
) -> None:
    lock = rig.store.set_lock(reason="hands off", actor="alice", at=rig.wall[0], account="a")
    rig.store.request_flatten(
        account="a", market=None, fraction=D(1), reason="close", actor="carol", at=rig.wall[0]
    )
    await rig.service.tick("a")  # the very next tick, no housekeeping in between
    assert [p.quantity for p in rig.gateway.sent] == [D(1)]
    overridden = rig.events("lock_overridden")
    assert len(overridden) == 1 and f"lock #{lock.id}" in overridden[0]


async def test_flatten_when_snapshot_stale_at_send_then_held(tmp_path: Path) -> None:
    rig = _rig(tmp_path, RailSettings(staleness=timedelta(minutes=2)))
    try:
        rig.store.request_flatten(
            account="a", market=None, fraction=D(1), reason="close", actor="carol", at=rig.wall[0]
        )

        def stale() -> None:
            rig.gateway.age = timedelta(minutes=10)

        rig.gateway.on_reread = stale
        await rig.service.tick("a")
        assert rig.gateway.sent == []
        [intent] = rig.store.intents("a")
        assert intent.status is OrderStatus.SUPPRESSED and "old at send time" in intent.message
    finally:
        rig.store.dispose()


async def test_send_when_breaker_fills_between_admission_and_send_then_held(tmp_path: Path) -> None:
    limits = BreakerLimits(timedelta(hours=1), 1, D(10**9), 100, D(10**9))
    rig = _rig(tmp_path, RailSettings(breakers=limits))
    try:

        def other_order() -> None:  # another order of this account lands in the window meanwhile
            other = OrderPlan(
                "a",
                BTC,
                Side.LONG.closing_order_side,
                D("0.1"),
                Side.LONG,
                MarginMode.CROSS,
                RULES.client_order_id("other"),
                rule_ids=("x",),
            )
            rig.store.admit(
                "a",
                [other],
                rig.venue.now,
                tick_id=None,
                fingerprint=None,
                actor="guard",
                dry_run=False,
                state=None,
            )

        rig.gateway.on_reread = other_order
        await rig.service.tick("a")
        assert rig.gateway.sent == []
        held = [i for i in rig.store.intents("a") if i.status is OrderStatus.SUPPRESSED]
        assert len(held) == 1 and "at send time" in held[0].message
    finally:
        rig.store.dispose()


@pytest.mark.parametrize("virtual", ["ahead", "behind"])
async def test_lock_when_account_clock_virtual_then_judged_on_wall_clock(
    rig: Rig, virtual: str
) -> None:
    # the paper account runs years ahead of (or behind) the wall: a 30-minute lock must hold for
    # 30 wall minutes, whatever the account's own clock says
    if virtual == "ahead":
        rig.wall[0] = rig.venue.now - timedelta(days=400)
    rig.store.set_lock(
        reason="30 min",
        actor="alice",
        at=rig.wall[0],
        account="a",
        expires_at=rig.wall[0] + timedelta(minutes=30),
    )
    await rig.service.tick("a")
    assert rig.gateway.sent == []  # held while the wall clock is inside the lock
    rig.wall[0] += timedelta(minutes=31)
    rig.venue.advance_to(rig.venue.now + timedelta(minutes=1))
    await rig.service.tick("a")
    assert len(rig.gateway.sent) == 1


async def test_tick_when_switched_from_dry_run_to_live_then_live_step_not_blocked(rig: Rig) -> None:
    rig.runtime().dry_run = True
    first = await rig.service.tick("a")
    assert first.execution is not None and len(first.execution.would_place) == 1
    assert rig.gateway.sent == []
    rig.runtime().dry_run = False
    rig.advance()
    await rig.service.tick("a")
    assert len(rig.gateway.sent) == 1
    assert rig.gateway.sent[0].client_order_id == first.execution.would_place[0].client_order_id


async def test_tick_when_account_registered_then_its_markets_recorded_for_operators(
    rig: Rig,
) -> None:
    rig.store.register_accounts([AccountInfo("a", "paper", False, D(5))], rig.wall[0])
    assert rig.store.account_markets("a") == []
    await rig.service.tick("a")
    assert rig.store.account_markets("a") == [BTC]


async def test_flatten_when_requested_between_ticks_then_done_on_the_next_tick(rig: Rig) -> None:
    lock = rig.store.set_lock(reason="quiet", actor="alice", at=rig.wall[0], account="a")
    await rig.service.tick("a")  # a tick with nothing requested
    assert rig.gateway.sent == []
    rig.store.request_flatten(
        account="a", market=None, fraction=D("0.5"), reason="halve", actor="carol", at=rig.wall[0]
    )
    rig.advance()
    await rig.service.tick("a")  # the next tick carries it out: no housekeeping needed
    assert [p.quantity for p in rig.gateway.sent] == [D("0.5")]
    assert rig.store.pending_requests("a") == []
    rig.store.clear_lock(lock.id, actor="alice", at=rig.wall[0])
