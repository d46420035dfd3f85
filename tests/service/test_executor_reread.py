"""The executor re-reads the position right before sending: clipped to it, skipped when gone,
left pending (for reconciliation) when the venue cannot be asked; a rejection is never resent."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from guard.core.domain import MarginMode, OrderPlan, OrderSide, OrderStatus, PositionKey, Side
from guard.gateway.base import TemporaryError
from guard.gateway.paper.scenarios import crash
from guard.service.executor import Executor
from guard.store import Store

BTC = PositionKey("BTC/USDT:USDT", Side.LONG)


def _plan(quantity: str, client_id: str = "g-reread-1") -> OrderPlan:
    return OrderPlan(
        "acct",
        BTC.symbol,
        OrderSide.SELL,
        Decimal(quantity),
        Side.LONG,
        MarginMode.CROSS,
        client_id,
        reason="test",
    )


async def test_send_when_position_shrank_since_planning_then_clipped_to_it(
    any_store: Store,
) -> None:
    venue = crash().venue(("acct",))
    executor = Executor(any_store, venue, lambda: venue.now)
    venue.accounts["acct"].positions[BTC].quantity = Decimal("0.5")
    report = await executor.execute(
        "acct", [_plan("0.8")], tick_id="t", fingerprint="f", state=None
    )
    assert [r.status for r in report.results] == [OrderStatus.FILLED]
    assert report.results[0].filled_quantity == Decimal("0.5")
    assert "clipped from 0.8 to 0.5" in report.results[0].message
    assert BTC not in venue.accounts["acct"].positions


async def test_send_when_position_gone_then_abandoned_and_nothing_sent(any_store: Store) -> None:
    venue = crash().venue(("acct",))
    executor = Executor(any_store, venue, lambda: venue.now)
    del venue.accounts["acct"].positions[BTC]
    report = await executor.execute(
        "acct", [_plan("0.3")], tick_id="t", fingerprint="f", state=None
    )
    assert [r.status for r in report.results] == [OrderStatus.ABANDONED]
    assert venue.calls["create_order"] == 0
    assert any_store.intents("acct")[0].status is OrderStatus.ABANDONED


async def test_send_when_position_cannot_be_reread_then_left_pending_for_reconciliation(
    any_store: Store,
) -> None:
    venue = crash().venue(("acct",))
    executor = Executor(any_store, venue, lambda: venue.now)

    async def down(account: str) -> object:
        raise TemporaryError("paper: unreachable")

    real = venue.fetch_snapshot
    venue.fetch_snapshot = down  # type: ignore[method-assign,assignment]
    report = await executor.execute(
        "acct", [_plan("0.3")], tick_id="t", fingerprint="f", state=None
    )
    assert [r.status for r in report.results] == [OrderStatus.PENDING]
    assert venue.calls["create_order"] == 0
    venue.fetch_snapshot = real  # type: ignore[method-assign]
    pending = any_store.unresolved_intents("acct")
    await executor.reconcile(
        pending, {pending[0].client_order_id: pending[0].as_plan(Decimal("0.3"))}
    )
    assert venue.calls["create_order"] == 1
    assert any_store.intents("acct")[0].status is OrderStatus.FILLED


async def test_execute_when_step_was_rejected_then_same_client_id_never_resent(
    any_store: Store,
) -> None:
    venue = crash().venue(("acct",))
    executor = Executor(any_store, venue, lambda: venue.now)
    plan = _plan("0.3")
    rejected = replace(plan, limit_price=Decimal(1_000_000))  # a sell no one fills at
    first = await executor.execute("acct", [rejected], tick_id="t1", fingerprint="f", state=None)
    assert first.results[0].status is OrderStatus.REJECTED  # IOC: worst price not reachable
    again = await executor.execute("acct", [rejected], tick_id="t2", fingerprint="f", state=None)
    assert again.results == () and again.duplicates == (rejected,)
    assert venue.calls["create_order"] == 1
