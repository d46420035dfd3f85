"""Safety rails, pure: staleness, circuit breakers and tick-to-tick sanity checks. Each returns
holds (automatic action stops this tick, with a reason to alert on) or observed position changes
(vanished or shrank without our order); no I/O, `now` comes in as an argument."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from guard.core.domain import ZERO, AccountSnapshot, MarginMode, OrderPlan, PositionKey
from guard.core.margin import cross_equity, isolated_equity
from guard.core.numbers import plain


class Rail(StrEnum):
    """Which rail held the guard back."""

    STALE = "stale"  # the snapshot is older than the staleness bound
    BREAKER = "breaker"  # a circuit breaker would be exceeded
    SANITY = "sanity"  # a jump between ticks that our own fills do not explain


@dataclass(frozen=True, slots=True)
class Hold:
    rail: Rail
    reason: str
    key: str  # stable identity for alert deduplication (e.g. "breaker:orders:acct")


@dataclass(frozen=True, slots=True)
class WindowTotals:
    """Orders sent and notional reduced inside the breaker window."""

    orders: int = 0
    notional: Decimal = ZERO

    def plus(self, orders: int, notional: Decimal) -> WindowTotals:
        return WindowTotals(self.orders + orders, self.notional + notional)


@dataclass(frozen=True, slots=True)
class BreakerLimits:
    window: timedelta
    max_orders_per_account: int
    max_notional_per_account: Decimal
    max_orders_global: int
    max_notional_global: Decimal


@dataclass(frozen=True, slots=True)
class SanityBounds:
    position_jump: Decimal  # fraction of the expected size
    equity_jump: Decimal  # fraction of the previous equity


@dataclass(frozen=True, slots=True)
class PositionChange:
    """A position that vanished or shrank by more than our own fills explain."""

    key: PositionKey
    before: Decimal
    after: Decimal
    own_fills: Decimal

    @property
    def vanished(self) -> bool:
        return self.after == ZERO

    @property
    def unexplained(self) -> Decimal:
        return self.before - self.own_fills - self.after

    def describe(self) -> str:
        what = "vanished" if self.vanished else f"shrank to {plain(self.after)}"
        return (
            f"{self.key.symbol} {self.key.side.value} {what} from {plain(self.before)} without "
            f"our order (our fills: {plain(self.own_fills)}; unexplained: "
            f"{plain(self.unexplained)}) — "
            "liquidation, auto-deleveraging or a manual close"
        )


def staleness(snapshot: AccountSnapshot, now: datetime, bound: timedelta) -> Hold | None:
    """Hold when the snapshot is older than `bound` at `now`."""
    age = now - snapshot.taken_at
    if age <= bound:
        return None
    return Hold(
        Rail.STALE,
        f"snapshot of {snapshot.account} is {age.total_seconds():.1f}s old "
        f"(bound {bound.total_seconds():g}s): no action on stale data",
        f"stale:{snapshot.account}",
    )


def plan_notional(plans: Sequence[OrderPlan], snapshot: AccountSnapshot) -> Decimal:
    """Quote notional of `plans` at the snapshot's mark prices (limit price when no mark)."""
    total = ZERO
    for plan in plans:
        data = snapshot.market_data.get(plan.symbol)
        price = data.mark_price if data is not None else (plan.limit_price or ZERO)
        total += plan.quantity * price
    return total


def breaker(
    account: str,
    orders: int,
    notional: Decimal,
    account_totals: WindowTotals,
    global_totals: WindowTotals,
    limits: BreakerLimits,
) -> Hold | None:
    """Hold when sending `orders` worth `notional` would pass a per-account or global limit."""
    window = f"{limits.window.total_seconds():g}s"
    checks = (
        (
            account_totals.orders + orders,
            limits.max_orders_per_account,
            f"orders:{account}",
            f"{account}: orders",
        ),
        (
            account_totals.notional + notional,
            limits.max_notional_per_account,
            f"notional:{account}",
            f"{account}: reduced notional",
        ),
        (global_totals.orders + orders, limits.max_orders_global, "orders:global", "all: orders"),
        (
            global_totals.notional + notional,
            limits.max_notional_global,
            "notional:global",
            "all: reduced notional",
        ),
    )
    for value, limit, key, label in checks:
        if Decimal(value) > Decimal(limit):
            return Hold(
                Rail.BREAKER,
                f"circuit breaker: {label} in the last {window} would be {value} "
                f"(limit {limit}); automatic action stopped",
                f"breaker:{key}",
            )
    return None


def account_equity(snapshot: AccountSnapshot) -> Decimal:
    isolated = sum(
        (isolated_equity(p) for p in snapshot.positions if p.margin_mode is MarginMode.ISOLATED),
        ZERO,
    )
    return cross_equity(snapshot) + isolated


def compare(
    previous: AccountSnapshot | None,
    current: AccountSnapshot,
    own_fills: Mapping[PositionKey, Decimal],
    bounds: SanityBounds,
) -> tuple[list[Hold], list[PositionChange]]:
    """Sanity between two ticks: unexplained growth or an equity jump holds; shrinkage that our
    fills (since `previous`) do not explain is reported as a position change."""
    if previous is None:
        return [], []
    holds: list[Hold] = []
    changes: list[PositionChange] = []
    before = {p.key: p.quantity for p in previous.positions}
    after = {p.key: p.quantity for p in current.positions}
    for key in sorted(set(before) | set(after), key=lambda k: (k.symbol, k.side.value)):
        was = before.get(key, ZERO)
        now = after.get(key, ZERO)
        ours = own_fills.get(key, ZERO)
        expected = max(was - ours, ZERO)
        if now > expected and now - expected > bounds.position_jump * max(expected, was):
            holds.append(
                Hold(
                    Rail.SANITY,
                    f"{key.symbol} {key.side.value} grew from {was} to {now} between ticks "
                    f"(bound {bounds.position_jump:%}): holding for a tick to confirm",
                    f"sanity:{current.account}:{key.symbol}:{key.side.value}",
                )
            )
        elif now < expected:
            changes.append(PositionChange(key, was, now, ours))
    old_equity = account_equity(previous)
    new_equity = account_equity(current)
    unexplained = new_equity - old_equity - explained_by_marks(previous, current)
    if old_equity > ZERO and abs(unexplained) > bounds.equity_jump * old_equity:
        holds.append(
            Hold(
                Rail.SANITY,
                f"equity of {current.account} jumped from {old_equity:.2f} to {new_equity:.2f} "
                f"between ticks, {unexplained:.2f} of it not explained by the marks' moves "
                f"(bound {bounds.equity_jump:%}): holding for a tick to confirm",
                f"sanity:{current.account}:equity",
            )
        )
    return holds, changes


MARK_JUMP = Decimal("0.25")  # a mark moving more than this between ticks explains nothing


def explained_by_marks(previous: AccountSnapshot, current: AccountSnapshot) -> Decimal:
    """The equity change the positions held across both ticks owe to their marks' moves, so a
    leveraged account in a real crash is not held as "bad data"; a mark that moved more than
    MARK_JUMP in one tick explains nothing (it is itself suspect)."""
    held = {p.key: p for p in previous.positions}
    explained = ZERO
    for position in current.positions:
        before = held.get(position.key)
        if before is None or before.mark_price <= ZERO:
            continue
        move = position.mark_price - before.mark_price
        if abs(move) > MARK_JUMP * before.mark_price:
            continue
        quantity = min(before.quantity, position.quantity)
        explained += position.side.sign * quantity * move
    return explained
