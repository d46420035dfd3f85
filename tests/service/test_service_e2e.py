"""End to end on the paper venue and a real database (SQLite and PostgreSQL): breach, orders,
fills and audit rows; dry-run; locks; breakers; venue outage; stale data; vanished positions."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from guard.core.domain import OrderStatus, Side
from guard.gateway.base import TemporaryError
from guard.service.notify import AlertKind
from guard.store import Store
from tests.service.helpers import ACCOUNT, kinds, rails, rig


async def test_tick_when_crash_breaches_then_orders_fill_and_every_step_is_audited(
    any_store: Store,
) -> None:
    r = rig(any_store)
    report = await r.run_until_orders()
    assert report.execution is not None and report.execution.sent >= 1
    assert all(res.status is OrderStatus.FILLED for res in report.execution.results)
    fills = r.venue.accounts[ACCOUNT].fills
    assert {f.client_order_id for f in fills} == {
        res.client_order_id for res in report.execution.results
    }
    intents = any_store.intents(ACCOUNT)
    assert {i.client_order_id for i in intents} == {f.client_order_id for f in fills}
    assert all(i.status is OrderStatus.FILLED for i in intents)
    seen = kinds(any_store)
    for kind in ("evaluation", "finding", "intent", "order_sent", "order_filled"):
        assert kind in seen
    filled = [e for e in any_store.events() if e.kind == "order_filled"]
    assert {e.client_order_id for e in filled} == {f.client_order_id for f in fills}
    assert any_store.verify_chain()[0]
    breaches = [a for a in r.service.notifier.sent if a.kind is AlertKind.BREACH]
    orders = [a for a in r.service.notifier.sent if a.kind is AlertKind.ORDER]
    assert breaches and len(orders) == len(fills)


async def test_run_when_whole_crash_then_no_liquidation_and_no_client_id_twice(
    any_store: Store,
) -> None:
    r = rig(any_store)
    await r.run(240, step=timedelta(minutes=2))
    account = r.venue.accounts[ACCOUNT]
    assert account.liquidations == []
    ids = [f.client_order_id for f in account.fills]
    assert len(ids) == len(set(ids)) >= 3
    assert any_store.unresolved_intents() == []


async def test_tick_when_dry_run_then_nothing_sent_and_would_place_audited(
    any_store: Store,
) -> None:
    r = rig(any_store, dry_run=True)
    report = await r.run_until_orders()
    assert r.venue.calls["create_order"] == 0
    assert r.venue.accounts[ACCOUNT].fills == []
    assert report.execution is not None and report.execution.sent == 0
    assert len(report.execution.would_place) == len(report.plan.orders)  # type: ignore[union-attr]
    would = [e for e in any_store.events() if e.kind == "order_would_place"]
    assert {e.client_order_id for e in would} == {
        p.client_order_id
        for p in report.plan.orders  # type: ignore[union-attr]
    }
    assert all(i.status is OrderStatus.WOULD_PLACE for i in any_store.intents(ACCOUNT))


async def test_tick_when_locked_then_held_and_after_expiry_acts(any_store: Store) -> None:
    r = rig(any_store)
    lock = any_store.set_lock(
        reason="investigating",
        actor="alice",
        at=r.venue.now,
        account=ACCOUNT,
        expires_at=r.venue.now + timedelta(minutes=56),
    )
    held = await r.run_until_orders()
    # every planned order goes through the intent transaction, whose lock check holds it back
    assert held.execution is not None and held.execution.sent == 0
    assert len(held.execution.suppressed) == len(held.plan.orders)  # type: ignore[union-attr]
    assert r.venue.calls["create_order"] == 0
    suppressed = [e for e in any_store.events() if e.kind == "order_suppressed"]
    assert suppressed and f"lock #{lock.id}" in suppressed[0].message
    # the lock runs out: the next tick acts on the breach that is still there
    r.venue.advance_to(lock.expires_at + timedelta(seconds=1))  # type: ignore[operator]
    acted = await r.tick()
    assert acted.execution is not None and acted.execution.sent >= 1
    assert r.venue.accounts[ACCOUNT].fills


async def test_tick_when_breaker_would_trip_then_no_order_and_alert(any_store: Store) -> None:
    r = rig(any_store, settings=rails(max_orders=1))
    report = await r.run_until_orders()
    assert len(report.plan.orders) > 1  # type: ignore[union-attr]
    assert report.execution is None
    assert [h.rail.value for h in report.holds] == ["breaker"]
    assert r.venue.calls["create_order"] == 0
    assert any(a.kind is AlertKind.BREAKER for a in r.service.notifier.sent)
    ok, reasons = r.service.health.status()
    assert not ok and any("circuit breaker" in why for why in reasons)
    assert r.service.metrics is not None
    assert b"guard_breaker_trips_total" in r.service.metrics.render()


async def test_tick_when_venue_outage_then_health_degrades_and_recovers(
    any_store: Store,
) -> None:
    r = rig(any_store)
    await r.tick()
    assert r.service.health.status() == (True, [])

    async def down(account: str) -> object:
        raise TemporaryError("paper: venue unreachable (test outage)")

    healthy = r.venue.fetch_snapshot
    r.venue.fetch_snapshot = down  # type: ignore[method-assign,assignment]
    failed = await r.tick()
    assert failed.error is not None
    ok, reasons = r.service.health.status()
    assert not ok and any("venue unreachable" in why for why in reasons)
    assert "error" in kinds(any_store)
    r.venue.fetch_snapshot = healthy  # type: ignore[method-assign]
    recovered = await r.tick()
    assert recovered.error is None
    assert r.service.health.status() == (True, [])


async def test_tick_when_snapshot_stale_then_no_action_and_stale_alert(any_store: Store) -> None:
    r = rig(any_store, settings=rails(staleness=timedelta(seconds=30)))
    await r.run(45)
    r.runtime.clock = lambda: r.venue.now + timedelta(minutes=5)
    r.venue.advance_to(r.venue.now + timedelta(minutes=10))
    report = await r.tick()
    assert report.execution is None  # a breach is there, but the data is old: no action
    assert [h.rail.value for h in report.holds] == ["stale"]
    assert r.venue.calls["create_order"] == 0
    assert any(a.kind is AlertKind.STALE for a in r.service.notifier.sent)
    r.runtime.clock = lambda: r.venue.now
    fresh = await r.tick()
    assert fresh.execution is not None and fresh.execution.sent >= 1


async def test_tick_when_position_closed_outside_then_position_changed_audited(
    any_store: Store,
) -> None:
    r = rig(any_store)
    await r.tick()
    r.venue.advance_to(r.venue.now + timedelta(minutes=1))
    account = r.venue.accounts[ACCOUNT]
    key = next(k for k in account.positions if k.symbol.startswith("ETH"))
    account.positions[key].quantity = Decimal(6)  # a manual partial close at the venue
    sol = next(k for k in account.positions if k.symbol.startswith("SOL"))
    del account.positions[sol]  # and a vanished position
    report = await r.tick()
    assert {c.key.symbol for c in report.changes} == {key.symbol, sol.symbol}
    changed = [e for e in any_store.events() if e.kind == "position_changed"]
    assert len(changed) == 2
    assert {e.payload["vanished"] for e in changed} == {True, False}
    assert any(a.kind is AlertKind.POSITION_CHANGED for a in r.service.notifier.sent)


async def test_tick_when_position_jumps_up_then_held_one_tick(any_store: Store) -> None:
    r = rig(any_store)
    await r.tick()
    account = r.venue.accounts[ACCOUNT]
    key = next(k for k in account.positions if k.symbol.startswith("BTC"))
    account.positions[key].quantity *= 3
    jumped = await r.tick()
    assert [h.rail.value for h in jumped.holds] == ["sanity"]
    steady = await r.tick()
    assert steady.holds == ()
    assert key.side is Side.LONG


async def test_tick_when_flatten_requested_then_executed_over_lock_and_completed(
    any_store: Store,
) -> None:
    r = rig(any_store)
    any_store.set_lock(reason="hands off", actor="alice", at=r.venue.now, account=ACCOUNT)
    request_id = any_store.request_flatten(
        account=ACCOUNT, fraction=Decimal(1), reason="risk off", actor="bob", at=r.venue.now
    )
    await r.tick()
    assert r.venue.accounts[ACCOUNT].positions == {}
    done = any_store.request(request_id)
    assert done is not None and done.status.value == "done"
    sent = [e for e in any_store.events() if e.kind == "order_sent"]
    assert sent and {e.actor for e in sent} == {"bob"}
    assert "flatten_completed" in kinds(any_store)


async def test_tick_when_database_read_fails_then_error_reported_and_loop_goes_on(
    any_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = rig(any_store)

    def broken(account: str, at: object) -> object:
        raise RuntimeError("database unavailable")

    monkeypatch.setattr(any_store, "read_tick", broken)
    failed = await r.tick()
    assert failed.error is not None and "database unavailable" in failed.error
    assert not r.service.health.status()[0]
    monkeypatch.undo()
    fine = await r.tick()
    assert fine.error is None and r.service.health.status() == (True, [])
