"""The executor's re-read before each send, through the real ccxt gateway against the venue lab:
no call when the tick's snapshot is fresh (taken within `reread_fresh`, nothing sent for the
account since), else ONE position call (the venue's one-symbol position endpoint; Hyperliquid and
dYdX: their one whole-account read); a later slice of the same tick re-reads, and an order is
never larger than the position as last read (clipped to a position that shrank)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from guard.core.domain import (
    ZERO,
    AccountSnapshot,
    MarginMode,
    OrderPlan,
    OrderSide,
    OrderStatus,
    PositionKey,
    Side,
)
from guard.core.venues.base import round_down
from guard.core.venues.registry import rules_for
from guard.gateway.ccxt import CcxtGateway
from guard.gateway.ccxt.budget import PRIORITY, PRIORITY_ROUTINE
from guard.lab.venue_lab import VenueLab
from guard.service.executor import Executor
from guard.store import Store
from tests.gateway.helpers import Sent, Wire
from tests.venue_lab import ACCOUNTS, gateway

BTC = "BTC/USDT:USDT"
# the one-symbol position endpoint of each venue, and the query field naming the market
POSITION_CALL = {
    "binance": ("/fapi/v3/positionRisk", "symbol", "BTCUSDT"),  # [Binance positionRisk v3]
    "bybit": ("/v5/position/list", "symbol", "BTCUSDT"),  # [BY-docs position.mdx]
    "okx": ("/api/v5/account/positions", "instId", "BTC-USDT-SWAP"),  # [OKX]
}

VENUES = sorted([*POSITION_CALL, "hyperliquid", "dydx"])


def _btc(venue: str) -> str:
    """The lab's BTC perp as the venue's ccxt market names it (the book's is BTC)."""
    return "BTC/USDC:USDC" if venue in ("hyperliquid", "dydx") else BTC


def _is_order(venue: str, sent: Sent) -> bool:
    """An order request (dYdX: the broadcast tx and the reads it makes for it)."""
    if venue == "hyperliquid":
        return sent.path.endswith("/exchange")
    if venue == "dydx":
        return "/v4/addresses/" not in sent.path
    return sent.method != "GET"


def _reread_call(venue: str, sent: Sent) -> bool:
    """The executor's re-read: the one-symbol position call, or the whole-account read."""
    if venue == "hyperliquid":
        return sent.path.endswith("/info") and "clearinghouseState" in (sent.body or "")
    if venue == "dydx":
        return "/v4/addresses/" in sent.path
    path, field, market = POSITION_CALL[venue]
    return sent.path.endswith(path) and sent.query.get(field) == market


async def _reduce_outside(lab: VenueLab, venue: str, quantity: Decimal) -> None:
    """The account's BTC long reduced at the venue by someone else (the book, not the guard)."""
    await lab.book.execute(
        venue,
        ACCOUNTS[venue].lab_account(),
        client_id="outside",
        symbol=BTC,
        side=OrderSide.SELL,
        quantity=quantity,
        price=None,
        order_type="market",
        time_in_force="IOC",
        reduce_only=True,
        position_side="BOTH",
        step=Decimal("0.001"),
    )


def _plan(
    venue: str,
    account: str,
    slice_name: str,
    quantity: str,
    snapshot: AccountSnapshot | None = None,
) -> OrderPlan:
    """A slice selling the BTC long; with `snapshot`, limited 5 % under its mark (Hyperliquid and
    dYdX market orders carry a worst price)."""
    limit = None
    if snapshot is not None:
        held = snapshot.position(PositionKey(_btc(venue), Side.LONG))
        assert held is not None
        limit = round_down(
            held.mark_price * Decimal("0.95"), snapshot.markets[_btc(venue)].price_tick
        )
    return OrderPlan(
        account=account,
        symbol=_btc(venue),
        side=OrderSide.SELL,
        quantity=Decimal(quantity),
        position_side=Side.LONG,
        margin_mode=MarginMode.CROSS,
        client_order_id=rules_for(venue).client_order_id(account, _btc(venue), "band1", slice_name),
        limit_price=limit,
    )


def _later(found: CcxtGateway, by: timedelta) -> datetime:
    """Move the gateway's clock `by` past now (the lab's own clock, and so its book, stays)."""
    taken = found.clock()
    found.clock = lambda: taken + by
    return taken


@pytest.mark.parametrize("venue", sorted(POSITION_CALL))
async def test_fetch_position_when_snapshot_older_than_reread_fresh_then_one_call_with_the_symbol(
    venue_lab: VenueLab, venue: str
) -> None:
    account = ACCOUNTS[venue].account
    found = gateway(venue_lab, venue)
    wire = Wire()
    wire.attach(found.client(account))
    try:
        full = await found.fetch_snapshot(account)
        wire.sent.clear()
        _later(found, found.settings.reread_fresh + timedelta(milliseconds=1))
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


@pytest.mark.parametrize("venue", VENUES)
async def test_fetch_position_when_snapshot_fresh_and_nothing_sent_then_no_call(
    venue_lab: VenueLab, venue: str
) -> None:
    account = ACCOUNTS[venue].account
    found = gateway(venue_lab, venue)
    wire = Wire()
    wire.attach(found.client(account))
    try:
        full = await found.fetch_snapshot(account)
        wire.sent.clear()
        _later(found, found.settings.reread_fresh)  # at the bound: still fresh
        reread = await found.fetch_position(account, _btc(venue))
    finally:
        await found.close()
    assert wire.sent == []
    assert reread is full  # stamped with its own time: the gate checks its age
    assert reread.taken_at < found.clock()


@pytest.mark.parametrize("venue", [v for v in VENUES if v != "hyperliquid"])
async def test_slices_when_second_sent_in_the_same_tick_then_it_re_reads_after_the_first(
    venue_lab: VenueLab, any_store: Store, venue: str
) -> None:
    account = ACCOUNTS[venue].account
    found = gateway(venue_lab, venue)
    wire = Wire()
    wire.attach(found.client(account))
    executor = Executor(any_store, found, found.clock)
    try:
        snapshot = await found.fetch_snapshot(account)  # the tick's snapshot
        wire.sent.clear()
        plans = [_plan(venue, account, f"slice{i}", "0.1", snapshot) for i in range(2)]
        report = await executor.execute(account, plans, tick_id="t", fingerprint="f", state=None)
    finally:
        await found.close()
    # Bybit's create answer is an acknowledgement; the lab's book shows both slices filled
    assert all(r.status in (OrderStatus.FILLED, OrderStatus.ACKNOWLEDGED) for r in report.results)
    assert venue_lab.book.signed_position(account, BTC) == Decimal("1.0")
    first = next(i for i, s in enumerate(wire.sent) if _is_order(venue, s))
    # the first slice goes on the fresh snapshot (no read before it); the second re-reads
    assert [s for s in wire.sent[:first] if not _is_order(venue, s)] == []
    reads = [s for s in wire.sent[first:] if not _is_order(venue, s)]
    assert [_reread_call(venue, s) for s in reads] == [True]
    sends = [s for s in wire.sent if venue != "dydx" or "broadcast_tx" in s.url]
    assert sum(_is_order(venue, s) for s in sends) == 2


async def test_second_slice_when_hyperliquid_answer_states_the_fill_then_no_read_and_sized_from_it(
    venue_lab: VenueLab, any_store: Store
) -> None:
    """Hyperliquid's order answer states what filled (exchange endpoint, "Place an order":
    `{"filled": {"totalSz": "0.02", "avgPx": "1891.4", "oid": 77747314}}`; an IOC's unfilled
    rest is cancelled, never rests): the second slice of the tick goes on the fresh snapshot
    less that fill, without a read, and is never larger than what the venue says is left."""
    account = ACCOUNTS["hyperliquid"].account
    found = gateway(venue_lab, "hyperliquid")
    wire = Wire()
    wire.attach(found.client(account))
    executor = Executor(any_store, found, found.clock)
    try:
        snapshot = await found.fetch_snapshot(account)  # long 1.2
        wire.sent.clear()
        plans = [_plan("hyperliquid", account, f"slice{i}", "1.0", snapshot) for i in range(2)]
        report = await executor.execute(account, plans, tick_id="t", fingerprint="f", state=None)
    finally:
        await found.close()
    assert [_is_order("hyperliquid", s) for s in wire.sent] == [True, True]  # no read at all
    second = venue_lab.book.find("hyperliquid", account, plans[1].client_order_id)
    assert second is not None and second.quantity == Decimal("0.2")
    assert report.results[1].message.startswith("clipped from 1.0 to 0.2")
    assert venue_lab.book.signed_position(account, BTC) == ZERO


async def test_second_slice_when_hyperliquid_first_answer_states_no_fill_then_it_re_reads(
    venue_lab: VenueLab, any_store: Store
) -> None:
    """An answer that states no fill (here the IOC could not match: an error status) leaves the
    send's effect unknown to the gateway: the next slice re-reads the account."""
    account = ACCOUNTS["hyperliquid"].account
    found = gateway(venue_lab, "hyperliquid")
    wire = Wire()
    wire.attach(found.client(account))
    executor = Executor(any_store, found, found.clock)
    try:
        snapshot = await found.fetch_snapshot(account)
        wire.sent.clear()
        plans = [_plan("hyperliquid", account, f"slice{i}", "0.1", snapshot) for i in range(2)]
        held = snapshot.position(PositionKey(_btc("hyperliquid"), Side.LONG))
        assert held is not None
        unmatched = round_down(
            held.mark_price * 2, snapshot.markets[_btc("hyperliquid")].price_tick
        )
        plans[0] = replace(plans[0], limit_price=unmatched)  # a sell IOC far above the book
        report = await executor.execute(account, plans, tick_id="t", fingerprint="f", state=None)
    finally:
        await found.close()
    assert report.results[0].filled_quantity == ZERO
    first = next(i for i, s in enumerate(wire.sent) if _is_order("hyperliquid", s))
    reads = [s for s in wire.sent[first:] if not _is_order("hyperliquid", s)]
    assert [_reread_call("hyperliquid", s) for s in reads] == [True]
    assert venue_lab.book.signed_position(account, BTC) == Decimal("1.1")


@pytest.mark.parametrize("venue", VENUES)
async def test_second_slice_when_first_filled_in_the_same_tick_then_clipped_to_what_is_left(
    venue_lab: VenueLab, any_store: Store, venue: str
) -> None:
    account = ACCOUNTS[venue].account
    found = gateway(venue_lab, venue)
    executor = Executor(any_store, found, found.clock)
    try:
        snapshot = await found.fetch_snapshot(account)  # long 1.2
        plans = [_plan(venue, account, f"slice{i}", "1.0", snapshot) for i in range(2)]
        report = await executor.execute(account, plans, tick_id="t", fingerprint="f", state=None)
    finally:
        await found.close()
    second = venue_lab.book.find(venue, account, plans[1].client_order_id)
    assert second is not None and second.quantity == Decimal("0.2")  # not the snapshot's 1.2
    assert report.results[1].message.startswith("clipped from 1.0")
    assert venue_lab.book.signed_position(account, BTC) == ZERO


@pytest.mark.parametrize("venue", VENUES)
async def test_send_when_position_shrank_after_reread_fresh_then_order_clipped_to_the_venue_position(
    venue_lab: VenueLab, any_store: Store, venue: str
) -> None:
    account = ACCOUNTS[venue].account
    found = gateway(venue_lab, venue)
    executor = Executor(any_store, found, found.clock)
    try:
        snapshot = await found.fetch_snapshot(account)
        held = snapshot.position(PositionKey(_btc(venue), Side.LONG))
        assert held is not None and held.quantity == Decimal("1.2")
        await _reduce_outside(venue_lab, venue, Decimal("0.5"))  # e.g. the trader, by hand
        _later(found, found.settings.reread_fresh + timedelta(milliseconds=1))
        plan = _plan(venue, account, "all", str(held.quantity), snapshot)
        report = await executor.execute(account, [plan], tick_id="t", fingerprint="f", state=None)
    finally:
        await found.close()
    sent = venue_lab.book.find(venue, account, plan.client_order_id)
    assert sent is not None and sent.quantity == Decimal("0.7")
    assert report.results[0].message.startswith("clipped from 1.2")
    assert venue_lab.book.signed_position(account, BTC) == ZERO


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
