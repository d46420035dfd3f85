"""The three runs of a replay on the paper venue in virtual time: unguarded, guarded by the real
GuardService tick path (SQLite audit), and a plain exchange-style stop-loss per position."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal

from guard.core.domain import ZERO, OrderPlan, OrderResult, Position, PositionKey, Side
from guard.core.planner import Plan
from guard.core.policy.schema import PolicySet
from guard.core.rails import BreakerLimits, SanityBounds
from guard.core.venues.base import maintenance_margin
from guard.gateway.paper.book import Fill, LiquidationEvent
from guard.gateway.paper.venue import PaperVenue
from guard.lab.replay.baselines import (
    StopBaseline,
    StopKind,
    standard_baselines,
    stop_levels,
)
from guard.lab.replay.pools import pool_distances
from guard.lab.replay.setup import ReplaySetup
from guard.service import AccountRuntime, GuardService
from guard.service.config import Breakers, Sanity, ServiceSettings
from guard.service.service_base import RailSettings
from guard.store import Store

ProgressHook = Callable[[str, int, int], None]  # (run name, stops done, stops in total)
PROGRESS_EVERY = 500


@dataclass(slots=True)
class Trace:
    """Equity and margin ratio at every stop of a run (floats: for the chart only)."""

    times: list[datetime] = field(default_factory=list)
    equity: list[float] = field(default_factory=list)
    margin_ratio: list[float] = field(default_factory=list)
    # margin pool -> (time, distance to liquidation, a fraction of the mark) at every stop when
    # the run traces pools (replay, for the chart; the matrix does not: it costs a measure a stop)
    distances: dict[str, list[tuple[datetime, float]]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RunResult:
    """The outcome of one run; money in Decimal, exactly as the paper venue booked it."""

    name: str
    starting_collateral: Decimal
    final_equity: Decimal
    min_equity: Decimal
    max_drawdown: Decimal  # largest fall of equity from a running peak, in quote currency
    max_drawdown_pct: Decimal  # the same as a fraction of that peak
    realized_pnl: Decimal  # at mark
    unrealized_pnl: Decimal  # of positions still open at the end
    funding_paid: Decimal  # positive: paid, negative: received
    fees: Decimal  # taker fees and liquidation penalties
    slippage: Decimal
    shortfall_absorbed: Decimal  # bankruptcy losses the venue took over
    orders: int
    liquidations: tuple[LiquidationEvent, ...]
    fills: tuple[Fill, ...]
    open_positions: int
    trace: Trace
    seconds: float = 0.0  # wall time the run took
    first_order_at: datetime | None = None  # when the run's first order filled
    # guarded run: rule ids (joined by '+' when merged) -> (orders, notional reduced at fill)
    contributions: Mapping[str, tuple[int, Decimal]] = field(default_factory=dict)
    order_rules: Mapping[str, str] = field(default_factory=dict)  # client order id -> rule ids
    warnings: tuple[str, ...] = ()  # e.g. a stop clamped inside its liquidation price
    description: str = ""

    @property
    def fees_and_slippage(self) -> Decimal:
        return self.fees + self.slippage

    @property
    def reconciliation_error(self) -> Decimal:
        """final equity − (collateral + realised + unrealised − fees − slippage − funding
        + shortfall absorbed); zero when the books balance."""
        expected = (
            self.starting_collateral
            + self.realized_pnl
            + self.unrealized_pnl
            - self.fees_and_slippage
            - self.funding_paid
            + self.shortfall_absorbed
        )
        return self.final_equity - expected


class _Recorder:
    """Samples one account after every stop; tracks the running peak and the drawdown."""

    def __init__(self, venue: PaperVenue, account: str, pools: bool = False) -> None:
        self.venue = venue
        self.pools = pools  # also trace each margin pool's distance to liquidation (the chart)
        self.account = account
        self.trace = Trace()
        self.peak = venue.equity(account)
        self.max_drawdown = ZERO
        self.max_drawdown_pct = ZERO
        self.sample()

    def sample(self) -> None:
        venue, acct = self.venue, self.venue.accounts[self.account]
        equity = venue.equity(self.account)
        maintenance = ZERO
        for pos in acct.positions.values():
            mark = venue.mark(pos.symbol)
            position = Position(pos.symbol, pos.side, pos.quantity, pos.entry_price, mark)
            maintenance += maintenance_margin(position, venue.markets[pos.symbol])
        if equity > self.peak:
            self.peak = equity
        drawdown = self.peak - equity
        if drawdown > self.max_drawdown:
            self.max_drawdown = drawdown
            self.max_drawdown_pct = drawdown / self.peak if self.peak > ZERO else ZERO
        self.trace.times.append(venue.now)
        self.trace.equity.append(float(equity))
        ratio = float(maintenance / equity) if equity > ZERO else (10.0 if maintenance else 0.0)
        self.trace.margin_ratio.append(ratio)
        for pool, distance in (pool_distances(venue, self.account) if self.pools else {}).items():
            self.trace.distances.setdefault(pool, []).append((venue.now, distance))

    def result(self, name: str, collateral: Decimal, orders: int) -> RunResult:
        venue, acct = self.venue, self.venue.accounts[self.account]
        first = acct.fills[0].at if acct.fills else None
        unrealized = sum(
            (
                pos.side.sign * (venue.mark(pos.symbol) - pos.entry_price) * pos.quantity
                for pos in acct.positions.values()
            ),
            ZERO,
        )
        return RunResult(
            name=name,
            starting_collateral=collateral,
            final_equity=venue.equity(self.account),
            min_equity=acct.min_equity if acct.min_equity is not None else collateral,
            max_drawdown=self.max_drawdown,
            max_drawdown_pct=self.max_drawdown_pct,
            realized_pnl=acct.realized_pnl,
            unrealized_pnl=unrealized,
            funding_paid=acct.funding_paid,
            fees=acct.fees_paid,
            slippage=acct.slippage_paid,
            shortfall_absorbed=acct.shortfall_absorbed,
            orders=orders,
            liquidations=tuple(acct.liquidations),
            fills=tuple(acct.fills),
            open_positions=len(acct.positions),
            trace=self.trace,
            first_order_at=first,
        )


def stops(setup: ReplaySetup, extra: Iterable[datetime] = ()) -> list[datetime]:
    """Every moment a run visits after its start: price knots, funding times, ticks."""
    moments = set(setup.path.all_times)
    for series in setup.funding.values():
        moments.update(t for t, _ in series)
    moments.update(extra)
    return sorted(t for t in moments if setup.start < t <= setup.end)


def _report(progress: ProgressHook | None, name: str, done: int, total: int) -> None:
    if progress is not None and (done % PROGRESS_EVERY == 0 or done == total):
        progress(name, done, total)


def run_unguarded(
    setup: ReplaySetup,
    account: str = "unguarded",
    progress: ProgressHook | None = None,
    pools: bool = False,
) -> RunResult:
    venue = setup.venue(account)
    recorder = _Recorder(venue, account, pools)
    moments = stops(setup)
    for done, moment in enumerate(moments, start=1):
        venue.advance_to(moment)
        recorder.sample()
        _report(progress, "unguarded", done, len(moments))
    return recorder.result("unguarded", setup.collateral, 0)


async def run_guarded(
    setup: ReplaySetup,
    policies: PolicySet,
    store: Store,
    tick: timedelta,
    account: str = "guarded",
    progress: ProgressHook | None = None,
    pools: bool = False,
) -> RunResult:
    """The real service tick (snapshot → evaluate → plan → execute → record) every `tick` of
    virtual time, starting at the replay's first moment."""
    venue = setup.venue(account)
    service = GuardService(
        store=store,
        accounts={account: AccountRuntime(account, setup.rules, venue, policies)},
        clock=lambda: venue.now,
        actor="guard-replay",
        rails=PRODUCTION_RAILS,
    )
    contributions: dict[str, tuple[int, Decimal]] = {}
    order_rules: dict[str, str] = {}
    ticks = setup.tick_times(tick)
    tick_set = set(ticks)
    recorder = _Recorder(venue, account, pools)
    orders = 0

    async def tick_now() -> None:
        nonlocal orders
        report = await service.tick(account)
        if report.execution is not None:
            orders += report.execution.sent
            _attribute(report.plan, report.execution.results, contributions, order_rules)
        recorder.sample()

    try:
        await tick_now()
        moments = stops(setup, ticks)
        for done, moment in enumerate(moments, start=1):
            venue.advance_to(moment)
            if moment in tick_set:
                await tick_now()
            else:
                recorder.sample()
            _report(progress, "guarded", done, len(moments))
    finally:
        service.db.close()
    result = recorder.result("guarded", setup.collateral, orders)
    return replace(
        result, contributions=dict(sorted(contributions.items())), order_rules=order_rules
    )


def _attribute(
    plan: Plan | None,
    results: tuple[OrderResult, ...],
    contributions: dict[str, tuple[int, Decimal]],
    order_rules: dict[str, str],
) -> None:
    """Add each filled order's notional to the rule(s) whose reduction it carried out, and note
    which rule(s) each order id carried out."""
    if plan is None:
        return
    rules = {order.client_order_id: "+".join(order.rule_ids) for order in plan.orders}
    for filled in results:
        if filled.average_price is None or filled.filled_quantity <= ZERO:
            continue
        rule = rules.get(filled.client_order_id, "?")
        order_rules[filled.client_order_id] = rule
        count, notional = contributions.get(rule, (0, ZERO))
        contributions[rule] = (count + 1, notional + filled.filled_quantity * filled.average_price)


PRODUCTION_RAILS = RailSettings(
    staleness=ServiceSettings().staleness,
    breakers=BreakerLimits(
        Breakers().window,
        Breakers().max_orders_per_account,
        Breakers().max_notional_per_account,
        Breakers().max_orders_global,
        Breakers().max_notional_global,
    ),
    sanity=SanityBounds(Sanity().position_jump, Sanity().equity_jump),
)
"""The service's default rails (staleness, breakers, sanity), on in every guarded replay."""


async def run_stop_loss(
    setup: ReplaySetup,
    baseline: Decimal | StopBaseline,
    account: str = "stop_loss",
    progress: ProgressHook | None = None,
    pools: bool = False,
) -> RunResult:
    """Each position carries a reduce-only stop-market order for its whole size, placed by the
    baseline (a bare Decimal: that far from entry) and never beyond its liquidation price,
    triggered by the mark (the exact crossing on the path) and filled like a guard order."""
    if isinstance(baseline, Decimal):
        if not ZERO < baseline < 1:
            raise ValueError(
                f"the stop-loss distance must be between 0 % and 100 %, got {baseline}"
            )
        baseline = StopBaseline(account, StopKind.FIXED, baseline)
    name = baseline.name
    venue = setup.venue(account)
    acct = venue.accounts[account]
    levels, warnings = stop_levels(baseline, venue.snapshot(account), setup.rules)
    recorder = _Recorder(venue, account, pools)
    orders = 0

    async def trigger_until(moment: datetime) -> None:
        nonlocal orders
        while True:
            hits: list[tuple[datetime, PositionKey]] = []
            for key, level in levels.items():
                if key not in acct.positions:
                    continue
                crossing = setup.path.first_crossing(
                    key.symbol, venue.now, moment, level, falling=key.side is Side.LONG
                )
                if crossing is not None:
                    hits.append((crossing, key))
            if not hits:
                return
            when, key = min(hits, key=lambda hit: hit[0])
            venue.advance_to(when)
            recorder.sample()
            position = acct.positions.get(key)
            level = levels.pop(key)
            if position is None:
                continue  # liquidated on the way to the trigger
            plan = OrderPlan(
                account=account,
                symbol=position.symbol,
                side=position.side.closing_order_side,
                quantity=position.quantity,
                position_side=position.side,
                margin_mode=position.margin_mode,
                client_order_id=f"sl-{position.symbol}-{position.side.value}",
                reason=f"{baseline.describe()}: {level:.2f}",
            )
            await venue.create_order(plan)
            orders += 1
            recorder.sample()

    moments = stops(setup)
    await trigger_until(venue.now)
    for done, moment in enumerate(moments, start=1):
        await trigger_until(moment)
        venue.advance_to(moment)
        recorder.sample()
        _report(progress, name, done, len(moments))
    result = recorder.result(name, setup.collateral, orders)
    return replace(result, warnings=warnings, description=baseline.describe())


@dataclass(frozen=True, slots=True)
class ReplayResult:
    unguarded: RunResult
    guarded: RunResult
    stop_loss: RunResult
    baselines: tuple[RunResult, ...] = ()  # further stop baselines (half liq distance, buffer)

    @property
    def runs(self) -> tuple[RunResult, ...]:
        return (self.unguarded, self.guarded, self.stop_loss, *self.baselines)

    def run(self, name: str) -> RunResult:
        for run in self.runs:
            if run.name == name:
                return run
        raise KeyError(f"no run named {name}")


async def replay(
    setup: ReplaySetup,
    policies: PolicySet,
    store: Store,
    tick: timedelta,
    stop_loss: Decimal,
    progress: ProgressHook | None = None,
) -> ReplayResult:
    """Run the portfolio three ways on fresh paper venues, timing each run; every run traces
    each margin pool's distance to liquidation for the chart."""
    began = time.perf_counter()
    unguarded = run_unguarded(setup, progress=progress, pools=True)
    unguarded = replace(unguarded, seconds=time.perf_counter() - began)
    began = time.perf_counter()
    guarded = await run_guarded(setup, policies, store, tick, progress=progress, pools=True)
    guarded = replace(guarded, seconds=time.perf_counter() - began)
    finished: list[RunResult] = []
    for baseline in standard_baselines(stop_loss):
        began = time.perf_counter()
        stopped = await run_stop_loss(setup, baseline, baseline.name, progress=progress, pools=True)
        finished.append(replace(stopped, seconds=time.perf_counter() - began))
    return ReplayResult(unguarded, guarded, finished[0], tuple(finished[1:]))
