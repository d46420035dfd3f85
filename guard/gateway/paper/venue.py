"""The paper venue behind the Gateway protocol: reduce-only orders filled after the execution model's
latency at the path's price then, with slippage, decaying impact and fees; any order not
reduce-only refused on an account flagged so; deterministic, no I/O."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from guard.core.domain import (
    ZERO,
    AccountSnapshot,
    MarginMode,
    OrderPlan,
    OrderResult,
    OrderSide,
    OrderStatus,
)
from guard.core.funding_ledger import FundingPayment
from guard.core.volatility import CandleSeries
from guard.gateway.base import GatewayError, OrderRejected
from guard.gateway.paper.book import Fill, PaperAccount
from guard.gateway.paper.impact import volatility_scale
from guard.gateway.paper.path import path_bars
from guard.gateway.paper.settlement import PaperSettlement


class PaperVenue(PaperSettlement):
    """A simulated venue; one instance serves many accounts in one virtual time line."""

    candles_are_mark = True  # False when the path was built from last-trade candles

    # ----- gateway protocol ---------------------------------------------------------------
    async def fetch_snapshot(self, account: str) -> AccountSnapshot:
        self.calls["fetch_snapshot"] += 1
        return self.snapshot(account)

    async def create_order(self, plan: OrderPlan) -> OrderResult:
        self.calls["create_order"] += 1
        acct = self._account(plan.account)
        if plan.client_order_id in acct.orders:
            raise OrderRejected(f"paper: duplicate client order id {plan.client_order_id}")
        refusal = self._refusal(acct, plan)
        if refusal:
            acct.orders[plan.client_order_id] = OrderResult(
                plan.client_order_id, OrderStatus.REJECTED, message=refusal
            )
            raise OrderRejected(f"paper: {refusal}")
        result = self._fill(acct, plan)
        acct.orders[plan.client_order_id] = result
        return result

    async def fetch_order(
        self, account: str, symbol: str, client_order_id: str
    ) -> OrderResult | None:
        self.calls["fetch_order"] += 1
        return self._account(account).orders.get(client_order_id)

    async def fetch_open_orders(self, account: str) -> list[OrderResult]:
        self.calls["fetch_open_orders"] += 1
        return []  # every paper order is immediate-or-cancel: nothing rests on the book

    async def cancel_order(self, account: str, symbol: str, client_order_id: str) -> OrderResult:
        self.calls["cancel_order"] += 1
        known = self._account(account).orders.get(client_order_id)
        if known is None:
            raise OrderRejected(f"paper: no order with client id {client_order_id}")
        return known

    async def fetch_funding_history(self, account: str, since: datetime) -> list[FundingPayment]:
        """Every funding settlement of `account` at or after `since` (the paper ledger)."""
        self.calls["fetch_funding_history"] += 1
        return [p for p in self._account(account).funding_ledger if p.at >= since]

    async def fetch_mark_candles(
        self, symbol: str, timeframe: timedelta, bars: int
    ) -> CandleSeries:
        """Bars of the path up to virtual now; the path is the mark unless it was built from
        last-trade candles (`candles_are_mark` False: the replay's documented proxy)."""
        self.calls["fetch_mark_candles"] += 1
        if symbol not in self.path.knots:
            raise GatewayError(f"paper: no price path for {symbol}")
        found = path_bars(self.path, symbol, timeframe, self.now, bars)
        source = "paper path" if self.candles_are_mark else "paper path from last-trade candles"
        return CandleSeries(timeframe, found, self.candles_are_mark, source)

    async def close(self) -> None:
        return None

    # ----- orders -------------------------------------------------------------------------
    def _refusal(self, acct: PaperAccount, plan: OrderPlan) -> str:
        if not plan.reduce_only and acct.reduce_only_required:
            return "this account accepts reduce-only orders only"
        if plan.quantity <= ZERO:
            return f"order quantity must be positive, got {plan.quantity}"
        position = acct.positions.get(plan.key)
        if position is None:
            return f"reduce-only order for {plan.key} but no such position is open"
        if plan.side is not position.side.closing_order_side:
            return "reduce-only order would increase the position"
        if plan.quantity > position.quantity:
            return (
                f"reduce-only order of {plan.quantity} is larger than the position "
                f"{position.quantity}"
            )
        if plan.symbol not in self.markets:
            return f"unknown market {plan.symbol}"
        return ""

    def _fill(self, acct: PaperAccount, plan: OrderPlan) -> OrderResult:
        position = acct.positions[plan.key]
        # The order meets the book `latency` after it was sent: the next observed price.
        filled_at = self.now + self.execution.latency
        mark = self.path.price(plan.symbol, filled_at)
        reference = self.execution.volatility_reference
        scale = (
            volatility_scale(
                self.path, plan.symbol, filled_at, reference, self.execution.volatility_cap
            )
            if reference is not None
            else Decimal(1)
        )
        earlier = self.impact.residual(plan.symbol, filled_at)
        price = self.slippage.fill_price(plan.side, mark, plan.quantity, earlier, scale)
        if plan.limit_price is not None and (
            (plan.side is OrderSide.SELL and price < plan.limit_price)
            or (plan.side is OrderSide.BUY and price > plan.limit_price)
        ):
            return OrderResult(
                plan.client_order_id,
                OrderStatus.REJECTED,
                message=f"IOC: fill price {price} beyond the worst acceptable {plan.limit_price}",
            )
        market = self.markets[plan.symbol]
        fee = plan.quantity * price * market.taker_fee_rate
        pnl = position.side.sign * (mark - position.entry_price) * plan.quantity  # at mark
        slippage = abs(price - mark) * plan.quantity
        acct.slippage_paid += slippage
        self.impact.record(plan.symbol, filled_at, plan.quantity * mark)
        acct.fees_paid += fee
        acct.realized_pnl += pnl
        fraction = plan.quantity / position.quantity
        if position.margin_mode is MarginMode.ISOLATED:
            released = position.isolated_margin * fraction
            position.isolated_margin -= released
            acct.wallet += released
        acct.wallet += pnl - slippage - fee
        position.quantity -= plan.quantity
        if position.quantity <= ZERO:
            del acct.positions[plan.key]
            if position.margin_mode is MarginMode.ISOLATED and position.isolated_margin != ZERO:
                acct.wallet += position.isolated_margin
        acct.fills.append(
            Fill(
                self.now,
                acct.name,
                plan.client_order_id,
                plan.symbol,
                plan.side,
                plan.quantity,
                price,
                fee,
                pnl,
            )
        )
        self._record_bankruptcy(acct)
        self._track_equity(acct)
        return OrderResult(
            plan.client_order_id,
            OrderStatus.FILLED,
            filled_quantity=plan.quantity,
            average_price=price,
            fee=fee,
            venue_order_id=f"paper-{len(acct.fills)}",
        )
