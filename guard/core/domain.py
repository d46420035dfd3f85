"""Frozen value types of the guard: pure, no I/O; money is Decimal, time is UTC-aware datetime."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import TypeVar

from guard.core.position_risk import PositionRisk

K = TypeVar("K")
V = TypeVar("V")

ZERO = Decimal(0)
ONE = Decimal(1)
INFINITY = Decimal("Infinity")


def require_utc(moment: datetime, what: str) -> datetime:
    """Return `moment` if it is timezone-aware with zero offset, else raise ValueError naming it."""
    offset = moment.utcoffset()
    if offset is None or offset != timedelta(0):
        raise ValueError(f"{what} must be a timezone-aware UTC datetime, got {moment!r}")
    return moment


def frozen_map(items: Mapping[K, V] | None = None) -> Mapping[K, V]:
    """A read-only mapping, so frozen dataclasses stay frozen all the way down."""
    return MappingProxyType(dict(items or {}))


class Side(StrEnum):
    """Direction of a position."""

    LONG = "long"  # profits when the price rises
    SHORT = "short"  # profits when the price falls

    @property
    def sign(self) -> int:
        return 1 if self._value_ == "long" else -1  # not Side.LONG: a class lookup per call

    @property
    def closing_order_side(self) -> OrderSide:
        """The order side that reduces a position of this side."""
        return OrderSide.SELL if self is Side.LONG else OrderSide.BUY


class OrderSide(StrEnum):
    """Side of an order."""

    BUY = "buy"
    SELL = "sell"


class MarginMode(StrEnum):
    """How a position is margined."""

    CROSS = "cross"  # shares the account's collateral with every other cross position
    ISOLATED = "isolated"  # has its own margin; only that margin can be lost


class OrderType(StrEnum):
    """Execution style of a reduce-only order."""

    MARKET = "market"  # take liquidity now (venues without native market orders get IOC + cap)
    LIMIT_IOC = "limit_ioc"  # immediate-or-cancel limit at a worst acceptable price


class OrderStatus(StrEnum):
    """Lifecycle of an order intent, as the executor records it."""

    PENDING = "pending"  # intent written, not yet sent
    SENT = "sent"  # handed to the venue, no answer yet
    ACKNOWLEDGED = "acknowledged"  # venue accepted, not (yet) filled
    PARTIALLY_FILLED = "partially_filled"  # venue filled part and cancelled or kept the rest
    FILLED = "filled"  # fully filled
    REJECTED = "rejected"  # venue refused; never resent for the same step
    UNKNOWN = "unknown"  # send outcome unknown (timeout); resolved by client id
    SUPPRESSED = "suppressed"  # held back by a lock, breaker or staleness rail; never sent
    WOULD_PLACE = "would_place"  # dry-run: recorded, never sent
    ABANDONED = "abandoned"  # reconciliation found it unsent and no longer valid

    @property
    def is_final(self) -> bool:
        return self in _FINAL_STATUSES


_FINAL_STATUSES = frozenset(
    {
        OrderStatus.FILLED,
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.REJECTED,
        OrderStatus.SUPPRESSED,
        OrderStatus.WOULD_PLACE,
        OrderStatus.ABANDONED,
    }
)


class Severity(StrEnum):
    """How urgent a finding or alert is."""

    INFO = "info"
    WARNING = "warning"
    BREACH = "breach"  # a policy is violated and the guard acts
    CRITICAL = "critical"  # the guard cannot act (stale data, breaker, permanent error)


@dataclass(frozen=True, slots=True)
class MarginTier:
    """One maintenance tier: applies while notional is in [notional_floor, notional_cap)."""

    notional_floor: Decimal
    notional_cap: Decimal  # INFINITY for the last tier
    maintenance_rate: Decimal  # fraction of notional
    maintenance_deduction: Decimal = ZERO  # Binance "cum", Bybit "mmDeduction"
    max_leverage: Decimal | None = None


@dataclass(frozen=True, slots=True)
class MarketSpec:
    """Static trading rules of one perpetual market on one venue."""

    symbol: str
    base: str
    quote: str
    contract_size: Decimal = ONE  # base units per contract; quantities in the domain are base units
    amount_step: Decimal = Decimal("0.001")  # in base units
    price_tick: Decimal = Decimal("0.01")
    min_amount: Decimal = ZERO  # in base units
    min_notional: Decimal = ZERO
    max_order_amount: Decimal | None = None  # base units one order may carry (venue filters)
    max_order_notional: Decimal | None = None  # quote value one order may carry
    reduce_only_exempt_from_min_notional: bool = False
    tiers: tuple[MarginTier, ...] = ()
    funding_interval: timedelta = timedelta(hours=8)
    taker_fee_rate: Decimal = Decimal("0.0005")

    def tier_for(self, notional: Decimal) -> MarginTier:
        """The tier whose [floor, cap) holds `notional` (the last tier above every cap)."""
        if not self.tiers:
            raise ValueError(f"market {self.symbol} has no margin tiers")
        for tier in self.tiers:
            if notional < tier.notional_cap:
                return tier
        return self.tiers[-1]


@dataclass(frozen=True, slots=True)
class MarketData:
    """Venue-wide market data of one symbol at one moment (shared by every account)."""

    symbol: str
    mark_price: Decimal
    index_price: Decimal | None = None
    funding_rate: Decimal | None = None  # per funding interval, positive: longs pay shorts
    predicted_funding_rate: Decimal | None = None
    next_funding_time: datetime | None = None
    best_bid: Decimal | None = None
    best_ask: Decimal | None = None
    bid_depth: Decimal | None = None  # base units available near the top of the book
    ask_depth: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Position:
    """An open position as the venue reports it; quantity is in base units and positive."""

    symbol: str
    side: Side
    quantity: Decimal
    entry_price: Decimal
    mark_price: Decimal
    margin_mode: MarginMode = MarginMode.CROSS
    leverage: Decimal | None = None
    isolated_margin: Decimal | None = None  # isolated: the margin posted (excluding uPnL)
    venue_liquidation_price: Decimal | None = None
    venue_maintenance_margin: Decimal | None = None
    hedged: bool = False  # hedge (two-way) position mode: the venue needs a position side
    accumulated_funding: Decimal = ZERO  # funding paid (+) or received (-) since open
    _key: PositionKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # the key is read on every rule and metric lookup: build it once
        object.__setattr__(self, "_key", PositionKey(self.symbol, self.side))

    @property
    def notional(self) -> Decimal:
        return self.quantity * self.mark_price

    @property
    def signed_quantity(self) -> Decimal:
        return self.quantity * self.side.sign

    @property
    def unrealized_pnl(self) -> Decimal:
        return self.side.sign * (self.mark_price - self.entry_price) * self.quantity

    @property
    def key(self) -> PositionKey:
        return self._key


@dataclass(frozen=True, slots=True, order=True)
class PositionKey:
    """Identifies a position within an account (symbol + side, so hedge mode is covered)."""

    symbol: str
    side: Side

    def __str__(self) -> str:
        return f"{self.symbol}:{self.side.value}"


@dataclass(frozen=True, slots=True)
class Balance:
    """Collateral of the account in its settlement currency."""

    currency: str
    wallet_balance: Decimal  # cross collateral excluding unrealized PnL and isolated margins
    venue_equity: Decimal | None = None  # what the venue says equity is, for cross-checks
    venue_maintenance_margin: Decimal | None = None
    venue_free_collateral: Decimal | None = None


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    """Everything the core needs about one account at one moment."""

    account: str
    venue: str
    taken_at: datetime
    balance: Balance
    positions: tuple[Position, ...]
    markets: Mapping[str, MarketSpec] = field(default_factory=frozen_map)
    market_data: Mapping[str, MarketData] = field(default_factory=frozen_map)

    def __post_init__(self) -> None:
        require_utc(self.taken_at, "snapshot.taken_at")

    def position(self, key: PositionKey) -> Position | None:
        for position in self.positions:
            if position.key == key:
                return position
        return None

    def market(self, symbol: str) -> MarketSpec:
        try:
            return self.markets[symbol]
        except KeyError:
            raise KeyError(f"snapshot of {self.account} has no market spec for {symbol}") from None


@dataclass(frozen=True, slots=True)
class ReduceRequest:
    """What one rule asks for one position: reduce by `quantity` base units (for `reason`)."""

    rule_id: str
    key: PositionKey
    quantity: Decimal
    reason: str
    step: str  # stable identity of this step (ladder band + episode, or level rule + tick)
    # level-triggered requests restate a target every tick and are discounted by in-flight
    # reductions; one-shot requests (a ladder band firing) are new steps and are not.
    level: bool = False
    execution: Execution | None = None


@dataclass(frozen=True, slots=True)
class Execution:
    """How a reduction is executed: order style, worst acceptable slippage, maximum slice."""

    order_type: OrderType = OrderType.MARKET
    max_slippage: Decimal = Decimal("0.01")  # fraction of mark
    max_slice_notional: Decimal | None = None  # quote currency per child order


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule's verdict on one position or the whole account, with a human-readable reason."""

    rule_id: str
    kind: str
    severity: Severity
    reason: str
    symbol: str | None = None
    side: Side | None = None
    metric: str | None = None
    value: Decimal | None = None
    threshold: Decimal | None = None
    request: ReduceRequest | None = None


@dataclass(frozen=True, slots=True)
class Alert:
    """A message for people; never an order."""

    kind: str
    severity: Severity
    message: str
    account: str | None = None
    symbol: str | None = None


@dataclass(frozen=True, slots=True)
class Reduction:
    """The merged decision for one position: the largest request wins, every reason is kept."""

    key: PositionKey
    quantity: Decimal  # base units to reduce now (already net of in-flight reductions)
    rule_ids: tuple[str, ...]
    reasons: tuple[str, ...]
    steps: tuple[str, ...]
    execution: Execution = field(default_factory=lambda: Execution())


@dataclass(frozen=True, slots=True)
class LadderEpisode:
    """Memory of one exit-ladder episode on one position."""

    number: int  # increments per (rule, position); part of every step identity
    start_quantity: Decimal  # position size when the episode began; band fractions refer to it
    fired_bands: frozenset[int] = frozenset()

    def with_fired(self, bands: frozenset[int]) -> LadderEpisode:
        return replace(self, fired_bands=self.fired_bands | bands)


@dataclass(frozen=True, slots=True)
class GuardState:
    """What the guard remembers between ticks for one account; transitions return new values."""

    episodes: Mapping[str, LadderEpisode] = field(default_factory=frozen_map)
    episode_counters: Mapping[str, int] = field(default_factory=frozen_map)
    equity_peaks: tuple[tuple[datetime, Decimal], ...] = ()
    counters: Mapping[str, int] = field(default_factory=frozen_map)
    last_fired: Mapping[str, datetime] = field(default_factory=frozen_map)
    in_flight: Mapping[PositionKey, Decimal] = field(default_factory=frozen_map)
    dry_run: bool = False  # whose steps this memory records: dry-run never blocks live steps

    def with_in_flight(self, in_flight: Mapping[PositionKey, Decimal]) -> GuardState:
        return replace(self, in_flight=frozen_map(in_flight))


@dataclass(frozen=True, slots=True)
class Decision:
    """The engine's output for one account snapshot."""

    account: str
    taken_at: datetime
    findings: tuple[Finding, ...]
    reductions: tuple[Reduction, ...]
    alerts: tuple[Alert, ...]
    next_state: GuardState
    metrics: Mapping[str, Decimal | None] = field(default_factory=frozen_map)
    positions: tuple[PositionRisk, ...] = ()  # each position's risk, for `guard status`


@dataclass(frozen=True, slots=True)
class OrderPlan:
    """One reduce-only order the guard intends to send."""

    account: str
    symbol: str
    side: OrderSide
    quantity: Decimal  # base units, rounded down to the venue step, never above the position
    position_side: Side
    margin_mode: MarginMode
    client_order_id: str
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None  # worst acceptable price (IOC limit or market cap)
    reduce_only: bool = True
    hedged: bool = False
    rule_ids: tuple[str, ...] = ()
    reason: str = ""
    steps: tuple[str, ...] = ()
    # the mark the plan was priced at: a dry-run's would-be fill (shadow report); not identity
    reference_price: Decimal | None = field(default=None, compare=False)

    @property
    def key(self) -> PositionKey:
        return PositionKey(self.symbol, self.position_side)


@dataclass(frozen=True, slots=True)
class OrderResult:
    """What the venue said about one order."""

    client_order_id: str
    status: OrderStatus
    filled_quantity: Decimal = ZERO
    average_price: Decimal | None = None
    fee: Decimal = ZERO
    venue_order_id: str | None = None
    message: str = ""
