"""The venue lab's book: venue accounts mapped onto one shared paper venue (its matching, margin,
funding and liquidation engine on one market path), order records by venue and client id, and the
virtual clock; not pure (wall clock when paced). Invariant: every fill goes through the paper
engine, so a lab run and an in-process paper run book the same money."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from guard.core.domain import ZERO, MarginMode, OrderPlan, OrderSide, OrderStatus, Side
from guard.gateway.base import OrderRejected
from guard.gateway.paper.venue import PaperVenue


@dataclass(frozen=True, slots=True)
class LabAccount:
    """One venue account of the lab: how the venue names it (API key or wallet) and which paper
    account holds its money and positions. `secret` lets the lab verify HMAC signatures."""

    venue: str
    key: str  # Binance/Bybit/OKX API key, Hyperliquid/dYdX wallet address
    paper: str  # the paper account behind it
    secret: str | None = None
    passphrase: str | None = None  # OKX
    hedge_mode: bool = False  # Binance dualSidePosition / Bybit BothSide / OKX long_short_mode
    # the account mode as the venue's own field states it (None: the venue's ordinary mode):
    # Hyperliquid userAbstraction, Bybit marginMode (or CLASSIC), OKX acctLv, Binance
    # MULTI_ASSETS (multiAssetsMargin true) (venues.md §10)
    mode: str | None = None


@dataclass(slots=True)
class LabOrder:
    """One order as the lab's venue holds it (quantities in base units, prices in quote)."""

    venue: str
    account: str  # paper account
    order_id: int
    client_id: str
    symbol: str  # the paper (unified USDT) symbol
    side: OrderSide
    quantity: Decimal
    price: Decimal | None
    order_type: str  # market | limit
    time_in_force: str
    reduce_only: bool
    position_side: str  # BOTH, LONG, SHORT
    status: OrderStatus
    created: datetime
    updated: datetime
    filled: Decimal = ZERO
    average_price: Decimal | None = None
    fee: Decimal = ZERO
    message: str = ""
    cancelled: bool = False

    @property
    def open(self) -> bool:
        return self.status is OrderStatus.ACKNOWLEDGED


@dataclass(slots=True)
class LabBook:
    """The paper venue behind every lab venue, plus what the venues record about orders."""

    paper: PaperVenue
    accounts: list[LabAccount]
    # when set, virtual time follows the wall clock: start + (wall - anchor) * speed
    speed: Decimal | None = None
    end: datetime | None = None
    wall: Callable[[], float] = time.monotonic
    orders: dict[tuple[str, str], list[LabOrder]] = field(default_factory=dict)
    partial_fill: Decimal | None = None  # fault: fill only this fraction of the next orders
    partial_fills_left: int = 0
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(4_087_922_045))
    _anchor: tuple[float, datetime] | None = None

    # ----- accounts and time ------------------------------------------------------------------
    def account(self, venue: str, key: str) -> LabAccount | None:
        for account in self.accounts:
            if account.venue == venue and account.key.lower() == key.lower():
                return account
        return None

    def now(self) -> datetime:
        """Virtual time, advanced to the wall clock first when the lab is paced."""
        if self.speed is not None:
            if self._anchor is None:
                self._anchor = (self.wall(), self.paper.now)
            wall0, virtual0 = self._anchor
            moment = virtual0 + timedelta(seconds=float((self.wall() - wall0) * float(self.speed)))
            if self.end is not None:
                moment = min(moment, self.end)
            if moment > self.paper.now:
                self.paper.advance_to(moment)
        return self.paper.now

    def now_ms(self) -> int:
        return int(self.now().timestamp() * 1000)

    def advance_to(self, moment: datetime) -> None:
        self.paper.advance_to(moment)

    def mark(self, symbol: str) -> Decimal:
        return self.paper.mark(symbol)

    def signed_position(self, paper_account: str, symbol: str, side: Side | None = None) -> Decimal:
        """The position's signed size (long > 0); with `side`, only that hedge leg."""
        total = ZERO
        for key, position in self.paper.accounts[paper_account].positions.items():
            if key.symbol == symbol and (side is None or key.side is side):
                total += position.side.sign * position.quantity
        return total

    def margin_mode(self, paper_account: str, symbol: str) -> MarginMode | None:
        for key, position in self.paper.accounts[paper_account].positions.items():
            if key.symbol == symbol:
                return position.margin_mode
        return None

    # ----- orders -----------------------------------------------------------------------------
    def find(self, venue: str, account: str, client_id: str) -> LabOrder | None:
        """The latest order of that client id (Binance allows reuse once the first has ended)."""
        found = self.orders.get((venue, account), [])
        matches = [o for o in found if o.client_id == client_id]
        return matches[-1] if matches else None

    def find_id(self, venue: str, account: str, order_id: int) -> LabOrder | None:
        for order in self.orders.get((venue, account), []):
            if order.order_id == order_id:
                return order
        return None

    def open_orders(self, venue: str, account: str) -> list[LabOrder]:
        return [o for o in self.orders.get((venue, account), []) if o.open]

    def all_orders(self, venue: str, account: str) -> list[LabOrder]:
        return list(self.orders.get((venue, account), []))

    async def execute(
        self,
        venue: str,
        account: LabAccount,
        *,
        client_id: str,
        symbol: str,
        side: OrderSide,
        quantity: Decimal,
        price: Decimal | None,
        order_type: str,
        time_in_force: str,
        reduce_only: bool,
        position_side: str,
        step: Decimal,
    ) -> LabOrder:
        """Fill an accepted order through the paper engine (IOC: any unfilled rest is cancelled).

        The caller has already applied the venue's rules; a reduce-only order larger than the
        position reaches here only on venues that clip it, so it is clipped to the position."""
        now = self.now()
        order = LabOrder(
            venue,
            account.paper,
            next(self._ids),
            client_id,
            symbol,
            side,
            quantity,
            price,
            order_type,
            time_in_force,
            reduce_only,
            position_side,
            OrderStatus.ACKNOWLEDGED,
            now,
            now,
        )
        self.orders.setdefault((venue, account.paper), []).append(order)
        closing = Side.LONG if side is OrderSide.SELL else Side.SHORT
        if position_side in ("LONG", "SHORT"):
            closing = Side(position_side.lower())
        if order_type == "limit" and price is not None and not self.marketable(symbol, side, price):
            if time_in_force in ("GTC", "GTX", "ALO", "post_only"):
                return order  # rests on the book (the lab never matches resting orders later)
            order.status, order.message = OrderStatus.REJECTED, "IOC: no match at the limit"
            return order
        held = abs(self.signed_position(account.paper, symbol, closing))
        fill = min(quantity, held)
        if self.partial_fill is not None and self.partial_fills_left > 0:
            self.partial_fills_left -= 1
            fill = (fill * self.partial_fill / step).to_integral_value(ROUND_DOWN) * step
        if fill <= ZERO:
            order.status = OrderStatus.REJECTED if held == ZERO else OrderStatus.PARTIALLY_FILLED
            order.message = "nothing to fill"
            return order
        mode = self.margin_mode(account.paper, symbol) or MarginMode.CROSS
        plan = OrderPlan(
            account=account.paper,
            symbol=symbol,
            side=side,
            quantity=fill,
            position_side=closing,
            margin_mode=mode,
            client_order_id=f"lab-{venue}-{order.order_id}",
            limit_price=price if order_type == "limit" else None,
        )
        try:
            result = await self.paper.create_order(plan)
        except OrderRejected as error:
            order.status, order.message = OrderStatus.REJECTED, str(error)
            return order
        order.updated = self.now()
        if result.status is not OrderStatus.FILLED:
            order.status, order.message = OrderStatus.REJECTED, result.message
            return order
        order.filled = result.filled_quantity
        order.average_price = result.average_price
        order.fee = result.fee
        order.status = (
            OrderStatus.FILLED if order.filled >= quantity else OrderStatus.PARTIALLY_FILLED
        )
        return order

    def marketable(self, symbol: str, side: OrderSide, price: Decimal) -> bool:
        """Whether a limit at `price` crosses the paper book's touch (mark ± half spread)."""
        touch = self.paper.slippage.fill_price(side, self.mark(symbol), ZERO)
        return price <= touch if side is OrderSide.SELL else price >= touch

    def cancel(self, order: LabOrder) -> None:
        if order.open:
            order.status, order.cancelled = OrderStatus.REJECTED, True
            order.message = "cancelled"
            order.updated = self.now()


def paper_symbols(paper: PaperVenue) -> Mapping[str, str]:
    """Base asset -> paper symbol (BTC -> BTC/USDT:USDT): how the venues name the shared path."""
    return {spec.base: symbol for symbol, spec in sorted(paper.markets.items())}
