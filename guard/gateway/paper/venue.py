"""The paper venue: an in-process simulated perpetual venue driven by a price path in virtual time.
It keeps accounts with cross and isolated positions, accrues funding, liquidates a margin pool when
its equity meets maintenance, fills reduce-only orders with slippage, and refuses any order that
is not reduce-only on an account flagged so. Money is Decimal, time is UTC."""

from __future__ import annotations

import asyncio
import bisect
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from guard.core.domain import (
    ZERO,
    AccountSnapshot,
    Balance,
    MarginMode,
    MarketData,
    MarketSpec,
    OrderPlan,
    OrderResult,
    OrderSide,
    OrderStatus,
    Position,
    PositionKey,
    Side,
    frozen_map,
    require_utc,
)
from guard.core.margin import cross_equity, isolated_equity, liquidatable_pools
from guard.core.venues import paper as paper_rules
from guard.core.venues.base import maintenance_margin
from guard.gateway.base import OrderRejected, PermanentError, TemporaryError


@dataclass(frozen=True, slots=True)
class PricePath:
    """Mark prices per symbol as knots in time, linearly interpolated between knots."""

    knots: Mapping[str, tuple[tuple[datetime, Decimal], ...]]

    def price(self, symbol: str, at: datetime) -> Decimal:
        series = self.knots[symbol]
        times = [t for t, _ in series]
        index = bisect.bisect_right(times, at)
        if index == 0:
            return series[0][1]
        if index >= len(series):
            return series[-1][1]
        (t0, p0), (t1, p1) = series[index - 1], series[index]
        weight = Decimal((at - t0).total_seconds()) / Decimal((t1 - t0).total_seconds())
        return p0 + (p1 - p0) * weight

    def times_between(self, start: datetime, end: datetime) -> list[datetime]:
        """Every knot time in (start, end], in order, across all symbols."""
        found = {t for series in self.knots.values() for t, _ in series if start < t <= end}
        return sorted(found)

    @property
    def start(self) -> datetime:
        return min(series[0][0] for series in self.knots.values())

    @property
    def end(self) -> datetime:
        return max(series[-1][0] for series in self.knots.values())


@dataclass(frozen=True, slots=True)
class SlippageModel:
    """Fill price = mark moved against the taker by half the spread plus linear impact."""

    half_spread: Decimal = Decimal("0.0002")
    impact_per_notional: Decimal = Decimal("0.00000005")  # fraction per unit of quote notional

    def fill_price(self, side: OrderSide, mark: Decimal, quantity: Decimal) -> Decimal:
        slip = self.half_spread + self.impact_per_notional * quantity * mark
        return mark * (1 + slip) if side is OrderSide.BUY else mark * (1 - slip)


@dataclass(slots=True)
class PaperPosition:
    symbol: str
    side: Side
    quantity: Decimal
    entry_price: Decimal
    margin_mode: MarginMode
    leverage: Decimal
    isolated_margin: Decimal = ZERO
    funding_paid: Decimal = ZERO


@dataclass(slots=True)
class PaperAccount:
    name: str
    wallet: Decimal
    reduce_only_required: bool = True
    positions: dict[PositionKey, PaperPosition] = field(default_factory=dict)
    orders: dict[str, OrderResult] = field(default_factory=dict)
    liquidations: list[LiquidationEvent] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
    min_equity: Decimal | None = None
    funding_paid: Decimal = ZERO
    fees_paid: Decimal = ZERO
    slippage_paid: Decimal = ZERO
    realized_pnl: Decimal = ZERO  # at mark; slippage and fees are booked apart
    shortfall_absorbed: Decimal = ZERO  # bankruptcy losses the venue took over
    starting_collateral: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class LiquidationEvent:
    at: datetime
    account: str
    keys: tuple[PositionKey, ...]
    pool: str  # "cross" or "isolated:<symbol>"
    equity: Decimal
    maintenance: Decimal
    loss: Decimal


@dataclass(frozen=True, slots=True)
class Fill:
    at: datetime
    account: str
    client_order_id: str
    symbol: str
    side: OrderSide
    quantity: Decimal
    price: Decimal
    fee: Decimal
    realized_pnl: Decimal


class PaperVenue:
    """A simulated venue; one instance serves many accounts in one virtual time line."""

    venue = "paper"

    def __init__(
        self,
        markets: Mapping[str, MarketSpec],
        path: PricePath,
        funding: Mapping[str, Sequence[tuple[datetime, Decimal]]] | None = None,
        slippage: SlippageModel | None = None,
        start: datetime | None = None,
    ) -> None:
        self.markets = dict(markets)
        self.path = path
        self.funding = {s: sorted(v) for s, v in (funding or {}).items()}
        self.slippage = slippage or SlippageModel()
        self.now = require_utc(start or path.start, "paper start")
        self.accounts: dict[str, PaperAccount] = {}
        self.calls: Counter[str] = Counter()
        self.rules = paper_rules.RULES

    # ----- set-up -------------------------------------------------------------------------
    def open_account(self, name: str, wallet: Decimal, reduce_only_required: bool = True) -> None:
        self.accounts[name] = PaperAccount(
            name, wallet, reduce_only_required, starting_collateral=wallet
        )

    def seed_position(
        self,
        account: str,
        symbol: str,
        side: Side,
        quantity: Decimal,
        entry_price: Decimal,
        leverage: Decimal,
        margin_mode: MarginMode = MarginMode.CROSS,
        isolated_margin: Decimal | None = None,
    ) -> None:
        """Place a starting position directly (set-up only; the guard can never open one).

        For an isolated position the margin (notional ÷ leverage unless given) is taken from the
        wallet, as a venue does when the position is opened.
        """
        acct = self._account(account)
        margin = ZERO
        if margin_mode is MarginMode.ISOLATED:
            margin = (
                isolated_margin
                if isolated_margin is not None
                else quantity * entry_price / leverage
            )
            acct.wallet -= margin  # moved from the wallet into the position: collateral unchanged
        acct.positions[PositionKey(symbol, side)] = PaperPosition(
            symbol, side, quantity, entry_price, margin_mode, leverage, margin
        )
        self._track_equity(acct)

    # ----- virtual time -------------------------------------------------------------------
    def advance_to(self, moment: datetime) -> None:
        """Move virtual time to `moment`, visiting every price knot and funding time on the way."""
        require_utc(moment, "advance_to")
        if moment < self.now:
            raise ValueError(f"paper venue time cannot go back from {self.now} to {moment}")
        stops = set(self.path.times_between(self.now, moment))
        for series in self.funding.values():
            stops.update(t for t, _ in series if self.now < t <= moment)
        stops.add(moment)
        for stop in sorted(stops):
            previous = self.now
            self.now = stop
            self._settle_funding(previous, stop)
            self._liquidate_all()

    def mark(self, symbol: str) -> Decimal:
        return self.path.price(symbol, self.now)

    # ----- gateway protocol ---------------------------------------------------------------
    async def fetch_snapshot(self, account: str) -> AccountSnapshot:
        self.calls["fetch_snapshot"] += 1
        return self.snapshot(account)

    def snapshot(self, account: str) -> AccountSnapshot:
        acct = self._account(account)
        positions = tuple(self._position(p) for p in acct.positions.values())
        symbols = sorted(self.markets)
        return AccountSnapshot(
            account=account,
            venue=self.venue,
            taken_at=self.now,
            balance=Balance("USDT", acct.wallet, venue_equity=self.equity(account)),
            positions=positions,
            markets=frozen_map({s: self.markets[s] for s in symbols}),
            market_data=frozen_map({s: self._market_data(s) for s in symbols}),
        )

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

    async def close(self) -> None:
        return None

    # ----- accounting ---------------------------------------------------------------------
    def equity(self, account: str) -> Decimal:
        acct = self._account(account)
        snapshot_positions = [self._position(p) for p in acct.positions.values()]
        upnl_cross = sum(
            (p.unrealized_pnl for p in snapshot_positions if p.margin_mode is MarginMode.CROSS),
            ZERO,
        )
        isolated = sum(
            (
                isolated_equity(p)
                for p in snapshot_positions
                if p.margin_mode is MarginMode.ISOLATED
            ),
            ZERO,
        )
        return acct.wallet + upnl_cross + isolated

    def _account(self, name: str) -> PaperAccount:
        try:
            return self.accounts[name]
        except KeyError:
            raise PermanentError(f"paper: no account named {name!r}") from None

    def _position(self, paper: PaperPosition) -> Position:
        return Position(
            symbol=paper.symbol,
            side=paper.side,
            quantity=paper.quantity,
            entry_price=paper.entry_price,
            mark_price=self.mark(paper.symbol),
            margin_mode=paper.margin_mode,
            leverage=paper.leverage,
            isolated_margin=paper.isolated_margin
            if paper.margin_mode is MarginMode.ISOLATED
            else None,
            accumulated_funding=paper.funding_paid,
        )

    def _market_data(self, symbol: str) -> MarketData:
        mark = self.mark(symbol)
        rate, next_time = self._funding_now(symbol)
        half = mark * self.slippage.half_spread
        return MarketData(
            symbol=symbol,
            mark_price=mark,
            index_price=mark,
            funding_rate=rate,
            next_funding_time=next_time,
            best_bid=mark - half,
            best_ask=mark + half,
        )

    def _funding_now(self, symbol: str) -> tuple[Decimal | None, datetime | None]:
        series = self.funding.get(symbol, [])
        upcoming = [(t, r) for t, r in series if t > self.now]
        if upcoming:
            return upcoming[0][1], upcoming[0][0]
        return (series[-1][1], None) if series else (None, None)

    def _settle_funding(self, start: datetime, end: datetime) -> None:
        for symbol, series in self.funding.items():
            for moment, rate in series:
                if not start < moment <= end:
                    continue
                mark = self.path.price(symbol, moment)
                for acct in self.accounts.values():
                    for pos in acct.positions.values():
                        if pos.symbol != symbol:
                            continue
                        payment = pos.side.sign * pos.quantity * mark * rate
                        pos.funding_paid += payment
                        acct.funding_paid += payment
                        if pos.margin_mode is MarginMode.ISOLATED:
                            pos.isolated_margin -= payment
                        else:
                            acct.wallet -= payment

    def _liquidate_all(self) -> None:
        for acct in self.accounts.values():
            self._liquidate(acct)
            self._track_equity(acct)

    def _liquidate(self, acct: PaperAccount) -> None:
        snapshot = self.snapshot(acct.name)
        hit = liquidatable_pools(snapshot, self.rules)
        if not hit:
            return
        cross_keys = tuple(k for k in hit if acct.positions[k].margin_mode is MarginMode.CROSS)
        if cross_keys:
            equity = cross_equity(snapshot)
            mm = sum(
                (
                    maintenance_margin(snapshot.position(k), self.markets[k.symbol])  # type: ignore[arg-type]
                    for k in cross_keys
                ),
                ZERO,
            )
            loss = self._close_pool(acct, cross_keys, equity, mm, penalty_from_wallet=True)
            acct.liquidations.append(
                LiquidationEvent(self.now, acct.name, cross_keys, "cross", equity, mm, loss)
            )
        for key in hit:
            if key in cross_keys:
                continue
            position = snapshot.position(key)
            assert position is not None
            equity = isolated_equity(position)
            mm = maintenance_margin(position, self.markets[key.symbol])
            loss = self._close_pool(acct, (key,), equity, mm, penalty_from_wallet=False)
            acct.liquidations.append(
                LiquidationEvent(
                    self.now, acct.name, (key,), f"isolated:{key.symbol}", equity, mm, loss
                )
            )

    def _close_pool(
        self,
        acct: PaperAccount,
        keys: tuple[PositionKey, ...],
        equity: Decimal,
        maintenance: Decimal,
        penalty_from_wallet: bool,
    ) -> Decimal:
        """Close the pool's positions at mark; the remaining maintenance margin is the penalty.

        A pool that ends below zero is bankrupt: the shortfall is absorbed by the venue
        (recorded, so the account's books still reconcile).
        """
        before = self.equity(acct.name)
        penalty = min(maintenance, max(equity, ZERO))
        acct.fees_paid += penalty
        for key in keys:
            pos = acct.positions.pop(key)
            pnl = pos.side.sign * (self.mark(key.symbol) - pos.entry_price) * pos.quantity
            acct.realized_pnl += pnl
            if pos.margin_mode is MarginMode.CROSS:
                acct.wallet += pnl
            else:
                remaining = pos.isolated_margin + pnl - penalty
                if remaining < ZERO:
                    acct.shortfall_absorbed += -remaining
                    remaining = ZERO
                acct.wallet += remaining
        if penalty_from_wallet:
            acct.wallet -= penalty
            if acct.wallet < ZERO:
                acct.shortfall_absorbed += -acct.wallet
                acct.wallet = ZERO
        return before - self.equity(acct.name)

    def _track_equity(self, acct: PaperAccount) -> None:
        equity = self.equity(acct.name)
        if acct.min_equity is None or equity < acct.min_equity:
            acct.min_equity = equity

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
        mark = self.mark(plan.symbol)
        price = self.slippage.fill_price(plan.side, mark, plan.quantity)
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
        self._track_equity(acct)
        return OrderResult(
            plan.client_order_id,
            OrderStatus.FILLED,
            filled_quantity=plan.quantity,
            average_price=price,
            fee=fee,
            venue_order_id=f"paper-{len(acct.fills)}",
        )


# ----- persistence and wall-clock driving (used by `guard run` on paper accounts) -------------
def shifted_path(path: PricePath, delta: timedelta) -> PricePath:
    """The same path moved in time by `delta` (a scenario replayed from another start)."""
    return PricePath({s: tuple((t + delta, p) for t, p in v) for s, v in path.knots.items()})


def _result_json(result: OrderResult) -> dict[str, Any]:
    return {
        "client_order_id": result.client_order_id,
        "status": result.status.value,
        "filled_quantity": str(result.filled_quantity),
        "average_price": None if result.average_price is None else str(result.average_price),
        "fee": str(result.fee),
        "venue_order_id": result.venue_order_id,
        "message": result.message,
    }


def _result_from(data: Mapping[str, Any]) -> OrderResult:
    price = data["average_price"]
    return OrderResult(
        data["client_order_id"],
        OrderStatus(data["status"]),
        Decimal(data["filled_quantity"]),
        None if price is None else Decimal(price),
        Decimal(data["fee"]),
        data["venue_order_id"],
        data["message"],
    )


_ACCOUNT_DECIMALS = (
    "wallet",
    "funding_paid",
    "fees_paid",
    "slippage_paid",
    "realized_pnl",
    "shortfall_absorbed",
    "starting_collateral",
)


def paper_state(venue: PaperVenue) -> dict[str, Any]:
    """The venue's whole mutable state as JSON-ready data (Decimals as strings)."""
    accounts: dict[str, Any] = {}
    for name, acct in venue.accounts.items():
        accounts[name] = {
            **{attr: str(getattr(acct, attr)) for attr in _ACCOUNT_DECIMALS},
            "reduce_only_required": acct.reduce_only_required,
            "min_equity": None if acct.min_equity is None else str(acct.min_equity),
            "positions": [
                {
                    "symbol": p.symbol,
                    "side": p.side.value,
                    "quantity": str(p.quantity),
                    "entry_price": str(p.entry_price),
                    "margin_mode": p.margin_mode.value,
                    "leverage": str(p.leverage),
                    "isolated_margin": str(p.isolated_margin),
                    "funding_paid": str(p.funding_paid),
                }
                for p in acct.positions.values()
            ],
            "orders": [_result_json(r) for r in acct.orders.values()],
            "fills": [
                {
                    "at": f.at.isoformat(),
                    "client_order_id": f.client_order_id,
                    "symbol": f.symbol,
                    "side": f.side.value,
                    "quantity": str(f.quantity),
                    "price": str(f.price),
                    "fee": str(f.fee),
                    "realized_pnl": str(f.realized_pnl),
                }
                for f in acct.fills
            ],
            "liquidations": [
                {
                    "at": e.at.isoformat(),
                    "keys": [[k.symbol, k.side.value] for k in e.keys],
                    "pool": e.pool,
                    "equity": str(e.equity),
                    "maintenance": str(e.maintenance),
                    "loss": str(e.loss),
                }
                for e in acct.liquidations
            ],
        }
    return {"now": venue.now.isoformat(), "accounts": accounts}


def restore_paper_state(venue: PaperVenue, data: Mapping[str, Any]) -> None:
    """Put a state saved by `paper_state` back into `venue` (same markets and path)."""
    venue.now = require_utc(datetime.fromisoformat(data["now"]), "paper state now")
    venue.accounts = {}
    for name, raw in data["accounts"].items():
        acct = PaperAccount(name, Decimal(raw["wallet"]), raw["reduce_only_required"])
        for attr in _ACCOUNT_DECIMALS:
            setattr(acct, attr, Decimal(raw[attr]))
        acct.min_equity = None if raw["min_equity"] is None else Decimal(raw["min_equity"])
        for p in raw["positions"]:
            position = PaperPosition(
                p["symbol"],
                Side(p["side"]),
                Decimal(p["quantity"]),
                Decimal(p["entry_price"]),
                MarginMode(p["margin_mode"]),
                Decimal(p["leverage"]),
                Decimal(p["isolated_margin"]),
                Decimal(p["funding_paid"]),
            )
            acct.positions[PositionKey(position.symbol, position.side)] = position
        acct.orders = {o["client_order_id"]: _result_from(o) for o in raw["orders"]}
        acct.fills = [
            Fill(
                datetime.fromisoformat(f["at"]),
                name,
                f["client_order_id"],
                f["symbol"],
                OrderSide(f["side"]),
                Decimal(f["quantity"]),
                Decimal(f["price"]),
                Decimal(f["fee"]),
                Decimal(f["realized_pnl"]),
            )
            for f in raw["fills"]
        ]
        acct.liquidations = [
            LiquidationEvent(
                datetime.fromisoformat(e["at"]),
                name,
                tuple(PositionKey(symbol, Side(side)) for symbol, side in e["keys"]),
                e["pool"],
                Decimal(e["equity"]),
                Decimal(e["maintenance"]),
                Decimal(e["loss"]),
            )
            for e in raw["liquidations"]
        ]
        venue.accounts[name] = acct


class WallClockPaper:
    """A paper venue driven by wall time: virtual time = where it was + elapsed wall × speed.

    It persists the venue (and every client id it received) to `state_file` after each change,
    atomically, so a killed process resumes the same book; `outage` and `frozen` inject faults
    (every call fails; prices and time stop, so snapshots go stale)."""

    venue = "paper"

    def __init__(
        self,
        inner: PaperVenue,
        *,
        speed: Decimal,
        end: datetime,
        origin: datetime,
        state_file: Path | None = None,
        latency: timedelta = timedelta(0),
        wall: Callable[[], float] = time.monotonic,
        received: Sequence[str] = (),
    ) -> None:
        self.inner = inner
        self.rules = inner.rules
        self.speed = speed
        self.end = end
        self.origin = origin
        self.state_file = state_file
        self.latency = latency.total_seconds()
        self.wall = wall
        self.received: list[str] = list(received)
        self.outage = False
        self.frozen = False
        self._anchor_virtual = inner.now
        self._anchor_wall = wall()

    def now(self) -> datetime:
        """The virtual time now (never past the scenario's end, never before the venue's now)."""
        if self.frozen:
            return self._virtual()
        return max(self.inner.now, self._virtual())

    def _virtual(self) -> datetime:
        elapsed = Decimal(repr(self.wall() - self._anchor_wall)) * self.speed
        moment = self._anchor_virtual + timedelta(seconds=float(elapsed))
        return min(moment, self.end)

    @property
    def ended(self) -> bool:
        return self.inner.now >= self.end

    def _check(self, what: str) -> None:
        if self.outage:
            raise TemporaryError(f"paper: venue unreachable ({what} during an injected outage)")

    def save(self) -> None:
        if self.state_file is None:
            return
        data = {
            "origin": self.origin.isoformat(),
            "venue": paper_state(self.inner),
            "received": self.received,
        }
        temporary = self.state_file.with_name(self.state_file.name + ".tmp")
        temporary.write_text(json.dumps(data), encoding="utf-8")
        os.replace(temporary, self.state_file)

    async def fetch_snapshot(self, account: str) -> AccountSnapshot:
        self._check("fetch_snapshot")
        if not self.frozen:
            self.inner.advance_to(self.now())
            self.save()
        return await self.inner.fetch_snapshot(account)

    async def create_order(self, plan: OrderPlan) -> OrderResult:
        self._check("create_order")
        await asyncio.sleep(self.latency / 2)
        self.received.append(plan.client_order_id)
        try:
            result = await self.inner.create_order(plan)
        finally:
            self.save()
        await asyncio.sleep(self.latency / 2)
        return result

    async def fetch_order(
        self, account: str, symbol: str, client_order_id: str
    ) -> OrderResult | None:
        self._check("fetch_order")
        return await self.inner.fetch_order(account, symbol, client_order_id)

    async def fetch_open_orders(self, account: str) -> list[OrderResult]:
        self._check("fetch_open_orders")
        return await self.inner.fetch_open_orders(account)

    async def cancel_order(self, account: str, symbol: str, client_order_id: str) -> OrderResult:
        self._check("cancel_order")
        return await self.inner.cancel_order(account, symbol, client_order_id)

    async def close(self) -> None:
        self.save()


def load_paper_file(path: Path) -> dict[str, Any] | None:
    """The saved state of a WallClockPaper, or None when there is none yet."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    data: dict[str, Any] = json.loads(text)
    return data
