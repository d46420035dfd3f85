"""(a) Core evaluation latency: engine.evaluate + planner.plan on one account snapshot with
N positions and every rule kind enabled (guard/lab/bench/all-kinds.yaml), timed with perf_counter_ns."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from guard.core.domain import (
    AccountSnapshot,
    Balance,
    GuardState,
    MarginMode,
    MarketData,
    MarketSpec,
    Position,
    Side,
    frozen_map,
)
from guard.core.engine import evaluate
from guard.core.planner import plan
from guard.core.policy.schema import PolicySet
from guard.core.venues.base import VenueRules
from guard.core.venues.paper import DEFAULT_TIERS
from guard.core.venues.paper import RULES as PAPER_RULES
from guard.lab.bench.stats import percentile
from guard.service.files import load_policies

ALL_KINDS = Path(__file__).with_name("all-kinds.yaml")
KINDS = (
    "exit_ladder",
    "buffer_floor",
    "funding_threshold",
    "leverage_cap",
    "exposure_cap",
    "stress",
    "drawdown",
    "stale_data",
)
T0 = datetime(2024, 8, 5, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class LatencyResult:
    rules: str  # which rules were enabled
    positions: int
    iterations: int
    p50_us: float
    p99_us: float
    mean_us: float
    findings: int
    orders: int


def bench_snapshot(positions: int, at: datetime = T0) -> AccountSnapshot:
    """A healthy cross account with `positions` positions on distinct markets (BTC, ETH, then
    synthetic alts), mixed long/short, ~3x gross leverage; every mark has a funding rate."""
    symbols = ["BTC/USDT:USDT", "ETH/USDT:USDT"] + [
        f"A{i:03d}/USDT:USDT" for i in range(max(0, positions - 2))
    ]
    held: list[Position] = []
    markets: dict[str, MarketSpec] = {}
    data: dict[str, MarketData] = {}
    notional_each = Decimal(30_000) / Decimal(positions)
    for index, symbol in enumerate(symbols[:positions]):
        entry = Decimal(60_000) if index == 0 else Decimal(3_000) if index == 1 else Decimal(10)
        mark = entry * (Decimal("0.98") if index % 3 else Decimal("1.01"))
        side = Side.LONG if index % 4 else Side.SHORT
        step = Decimal("0.001")
        quantity = (notional_each / entry).quantize(step)
        held.append(
            Position(
                symbol=symbol,
                side=side,
                quantity=quantity,
                entry_price=entry,
                mark_price=mark,
                margin_mode=MarginMode.CROSS,
                leverage=Decimal(10),
            )
        )
        markets[symbol] = MarketSpec(
            symbol=symbol,
            base=symbol.split("/")[0],
            quote="USDT",
            amount_step=step,
            price_tick=Decimal("0.01"),
            min_amount=step,
            tiers=DEFAULT_TIERS,
            funding_interval=timedelta(hours=8),
        )
        data[symbol] = MarketData(
            symbol,
            mark,
            index_price=mark,
            funding_rate=Decimal("0.0001"),
            next_funding_time=at + timedelta(hours=3),
        )
    return AccountSnapshot(
        account="bench",
        venue="paper",
        taken_at=at,
        balance=Balance("USDT", Decimal(10_000)),
        positions=tuple(held),
        markets=frozen_map(markets),
        market_data=frozen_map(data),
    )


def warm_state(
    snapshot: AccountSnapshot, policies: PolicySet, rules: VenueRules, ticks: int = 60
) -> GuardState:
    """The state after `ticks` evaluations 5 s apart (equity peaks and counters populated)."""
    state = GuardState()
    for i in range(ticks):
        moment = snapshot.taken_at - timedelta(seconds=5 * (ticks - i))
        decision = evaluate(
            AccountSnapshot(
                account=snapshot.account,
                venue=snapshot.venue,
                taken_at=moment,
                balance=snapshot.balance,
                positions=snapshot.positions,
                markets=snapshot.markets,
                market_data=snapshot.market_data,
            ),
            policies,
            state,
            rules,
            evaluated_at=moment,
        )
        state = decision.next_state
    return state


def measure_latency(
    positions: int,
    iterations: int,
    policies: PolicySet | None = None,
    rules: VenueRules = PAPER_RULES,
) -> LatencyResult:
    """p50/p99 of one evaluate + plan on a snapshot with `positions` positions."""
    policies = policies or load_policies([ALL_KINDS])
    snapshot = bench_snapshot(positions)
    state = warm_state(snapshot, policies, rules)
    now = snapshot.taken_at + timedelta(seconds=1)
    samples: list[float] = []
    findings = orders = 0
    for _ in range(max(3, iterations // 20)):  # warm-up: caches, allocator
        plan(evaluate(snapshot, policies, state, rules, evaluated_at=now), snapshot, rules)
    clock = time.perf_counter_ns
    for _ in range(iterations):
        started = clock()
        decision = evaluate(snapshot, policies, state, rules, evaluated_at=now)
        planned = plan(decision, snapshot, rules)
        samples.append((clock() - started) / 1000)
        findings = len(decision.findings)
        orders = len(planned.orders)
    kinds = sorted({str(getattr(rule, "kind", "")) for rule in policies.rules})
    return LatencyResult(
        "every kind" if kinds == sorted(KINDS) else ", ".join(kinds),
        positions,
        iterations,
        percentile(samples, 0.50),
        percentile(samples, 0.99),
        sum(samples) / len(samples),
        findings,
        orders,
    )


def without(policies: PolicySet, kind: str) -> PolicySet:
    """The same policies minus every rule of `kind` (to show one kind's share of the time)."""
    return PolicySet(
        tuple(
            (
                name,
                policy.model_copy(
                    update={"rules": [r for r in policy.rules if getattr(r, "kind", None) != kind]}
                ),
            )
            for name, policy in policies.files
        )
    )
