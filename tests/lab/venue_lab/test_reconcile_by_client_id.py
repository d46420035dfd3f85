"""Reconciliation by client id on every venue, after the order filled and left the open-orders
list: through the guard's ccxt gateway against the venue lab, the executor's reconcile finds a
sent order by its client id (Binance origClientOrderId, Bybit orderLinkId via the order history,
OKX clOrdId, Hyperliquid cloid, dYdX clientId over the parent subaccount's orders) and records it
filled, never resending it."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from guard.core.domain import OrderPlan, OrderStatus
from guard.core.venues.base import round_down
from guard.core.venues.registry import rules_for
from guard.lab.venue_lab import VenueLab
from guard.service.executor import Executor
from guard.store import Store
from tests.venue_lab import ACCOUNTS, gateway

VENUES = ("binance", "bybit", "okx", "hyperliquid", "dydx")


@pytest.mark.parametrize("venue", VENUES)
async def test_reconcile_when_order_filled_and_left_open_orders_then_found_filled_by_client_id(
    venue_lab: VenueLab, sqlite_store: Store, venue: str
) -> None:
    account = ACCOUNTS[venue].account
    found = gateway(venue_lab, venue)
    try:
        snapshot = await found.fetch_snapshot(account)
        position = next(p for p in snapshot.positions if p.symbol.startswith("BTC/"))
        spec = snapshot.markets[position.symbol]
        plan = OrderPlan(
            account=account,
            symbol=position.symbol,
            side=position.side.closing_order_side,
            quantity=max(spec.amount_step, spec.min_amount) * 10,
            position_side=position.side,
            margin_mode=position.margin_mode,
            client_order_id=rules_for(venue).client_order_id(account, position.symbol, "rc", "s0"),
            limit_price=round_down(position.mark_price * Decimal("0.95"), spec.price_tick),
        )
        executor = Executor(sqlite_store, found, found.clock)
        await executor.execute(account, [plan], tick_id="t", fingerprint="f", state=None)
        open_ids = [o.client_order_id for o in await found.fetch_open_orders(account)]
        (intent,) = sqlite_store.intents(account)
        # as the store holds it when the send's answer was lost: outcome unknown, nothing filled
        lost = replace(intent, status=OrderStatus.UNKNOWN, filled_quantity=Decimal(0))
        results = await executor.reconcile([lost], {plan.client_order_id: plan}, resend=False)
        writes_before = found.write_calls
        again = await found.fetch_order(account, plan.symbol, plan.client_order_id)
    finally:
        await found.close()
    assert plan.client_order_id not in open_ids  # filled: no longer an open order
    assert again is not None and again.status is OrderStatus.FILLED
    assert again.filled_quantity == plan.quantity
    assert [r.status for r in results] == [OrderStatus.FILLED]
    assert sqlite_store.intents(account)[0].status is OrderStatus.FILLED
    assert found.write_calls == writes_before == 1  # found, never resent
