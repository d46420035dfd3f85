"""The executor's re-read before each send is ONE position call (the venue's one-symbol position
endpoint), not a snapshot: through the real ccxt gateway against the venue lab, per slice; the
re-read position is the venue's, and the re-read snapshot is still checked whole by the gate."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest

from guard.core.domain import MarginMode, OrderPlan, OrderSide, OrderStatus, PositionKey, Side
from guard.core.venues.registry import rules_for
from guard.gateway.ccxt.budget import PRIORITY, PRIORITY_ROUTINE
from guard.lab.venue_lab import VenueLab
from guard.service.executor import Executor
from guard.store import Store
from tests.gateway.helpers import Wire
from tests.venue_lab import ACCOUNTS, gateway

BTC = "BTC/USDT:USDT"
# the one-symbol position endpoint of each venue, and the query field naming the market
POSITION_CALL = {
    "binance": ("/fapi/v3/positionRisk", "symbol", "BTCUSDT"),  # [Binance positionRisk v3]
    "bybit": ("/v5/position/list", "symbol", "BTCUSDT"),  # [BY-docs position.mdx]
    "okx": ("/api/v5/account/positions", "instId", "BTC-USDT-SWAP"),  # [OKX]
}


def _plan(venue: str, account: str, slice_name: str, quantity: str) -> OrderPlan:
    return OrderPlan(
        account=account,
        symbol=BTC,
        side=OrderSide.SELL,
        quantity=Decimal(quantity),
        position_side=Side.LONG,
        margin_mode=MarginMode.CROSS,
        client_order_id=rules_for(venue).client_order_id(account, BTC, "band1", slice_name),
    )


@pytest.mark.parametrize("venue", sorted(POSITION_CALL))
async def test_fetch_position_when_snapshot_taken_then_one_call_with_the_symbol(
    venue_lab: VenueLab, venue: str
) -> None:
    account = ACCOUNTS[venue].account
    found = gateway(venue_lab, venue)
    wire = Wire()
    wire.attach(found.client(account))
    try:
        full = await found.fetch_snapshot(account)
        wire.sent.clear()
        reread = await found.fetch_position(account, BTC)
    finally:
        await found.close()
    path, field, market = POSITION_CALL[venue]
    assert [s.path.endswith(path) for s in wire.sent] == [True]
    assert wire.sent[0].query[field] == market
    key = PositionKey(BTC, Side.LONG)
    assert reread.position(key) == full.position(key)
    assert reread.balance == full.balance  # the rest comes from the snapshot just taken
    assert {p.key for p in reread.positions} == {p.key for p in full.positions}


@pytest.mark.parametrize("venue", sorted(POSITION_CALL))
async def test_slices_when_sent_then_each_reread_is_one_position_call_not_a_snapshot(
    venue_lab: VenueLab, any_store: Store, venue: str
) -> None:
    account = ACCOUNTS[venue].account
    found = gateway(venue_lab, venue)
    wire = Wire()
    wire.attach(found.client(account))
    executor = Executor(any_store, found, found.clock)
    try:
        await found.fetch_snapshot(account)  # the tick's snapshot
        wire.sent.clear()
        plans = [_plan(venue, account, f"slice{i}", "0.1") for i in range(2)]
        report = await executor.execute(account, plans, tick_id="t", fingerprint="f", state=None)
    finally:
        await found.close()
    # Bybit's create answer is an acknowledgement; the lab's book shows both slices filled
    assert all(r.status in (OrderStatus.FILLED, OrderStatus.ACKNOWLEDGED) for r in report.results)
    path = POSITION_CALL[venue][0]
    reads = [s for s in wire.sent if s.method == "GET"]
    writes = [s for s in wire.sent if s.method != "GET"]
    assert len(writes) == 2
    assert [s.path.endswith(path) for s in reads] == [True, True]  # no balance, no account
    assert venue_lab.book.signed_position(account, BTC) == Decimal("1.0")


async def test_fetch_position_when_last_snapshot_too_old_then_a_full_snapshot(
    venue_lab: VenueLab,
) -> None:
    found = gateway(venue_lab, "bybit")
    wire = Wire()
    wire.attach(found.client("by"))
    try:
        await found.fetch_snapshot("by")
        wire.sent.clear()
        taken = found.clock()
        found.clock = lambda: taken + found.settings.reread_base_max_age + timedelta(seconds=1)
        reread = await found.fetch_position("by", BTC)
    finally:
        await found.close()
    assert any(s.path.endswith("/v5/account/wallet-balance") for s in wire.sent)
    # stamped no later than the venue's own payload time (the lab's clock is not advanced)
    assert reread.taken_at >= taken


@pytest.mark.parametrize("venue", ["binance"])
async def test_reread_when_routine_budget_spent_then_served_from_the_protective_reserve(
    venue_lab: VenueLab, venue: str
) -> None:
    """The re-read right before a send is protective work in the venue's weight budget: it
    spends the reserve that routine reads (other accounts' polls) cannot (issue 20)."""
    account = ACCOUNTS[venue].account
    found = gateway(venue_lab, venue, ccxt_rate_limit=True)
    try:
        await found.fetch_snapshot(account)
        budget = found.budget
        assert budget is not None
        limits = budget.limits
        PRIORITY.set(PRIORITY_ROUTINE)
        await budget(limits.weight * (1 - limits.reserve) - budget.used())  # routine share spent
        routine = asyncio.create_task(found.fetch_snapshot(account))
        await asyncio.sleep(0.05)
        assert not routine.done()  # a routine snapshot waits for the window
        reread = await asyncio.wait_for(found.fetch_position(account, BTC), 5)
        assert reread.positions
        routine.cancel()
    finally:
        await found.close()
