"""The stress report: the live book shocked in a correlated way (every mark moved by the same %,
the default -10/-20/-30 % and +10/+20/+30 % plus the policy's own stress shocks), per margin pool
(the cross pool, each isolated position): which would liquidate, and the reduce-only orders the
guard would plan first on the shocked book. Pure: the engine and planner only, nothing is sent.

Liquidation is the venue's own condition at the shocked marks with no margin of safety; the
guard's orders come from evaluating every policy on the shocked snapshot with the account's live
rule memory (ladder steps already taken, episodes, reductions in flight: what the running guard
would remember) plus the pre-shock equity as its latest peak (so drawdown rules see the loss)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from guard.core.domain import AccountSnapshot, GuardState, OrderPlan, PositionKey, frozen_map
from guard.core.engine import evaluate
from guard.core.margin import measure
from guard.core.planner import plan
from guard.core.policy.schema import PolicySet
from guard.core.policy.schema_stress import StressRule
from guard.core.stress import PoolOutcome, Shock, shocked, stress
from guard.core.venues.base import VenueRules

DEFAULT_MOVES = tuple(Decimal(m) for m in ("-0.1", "-0.2", "-0.3", "0.1", "0.2", "0.3"))


def default_shocks() -> tuple[Shock, ...]:
    """Every mark moved together by -10/-20/-30 % (longs' danger) and +10/+20/+30 % (shorts')."""
    return tuple(Shock(f"all {move * 100:+.0f}%", move) for move in DEFAULT_MOVES)


def policy_shocks(policies: PolicySet, account: str) -> tuple[Shock, ...]:
    """The shocks of every enabled stress rule that selects `account`, in policy order."""
    return tuple(
        spec.to_shock()
        for rule in policies.rules
        if isinstance(rule, StressRule) and rule.enabled and rule.select.matches_account(account)
        for spec in rule.shocks
    )


@dataclass(frozen=True, slots=True)
class ShockOutcome:
    """The book after one shock and what the guard would do about it."""

    shock: Shock
    source: str  # "default" or "policy"
    equity: Decimal  # every pool's equity at the shocked marks
    maintenance_margin: Decimal
    pools: tuple[PoolOutcome, ...]
    marks: tuple[tuple[str, Decimal], ...]  # symbol -> shocked mark
    orders: tuple[OrderPlan, ...]  # what the guard would send first (never sent)
    reasons: tuple[str, ...]  # the findings behind those orders

    @property
    def liquidated(self) -> tuple[PositionKey, ...]:
        return tuple(key for pool in self.pools if pool.liquidated for key in pool.positions)

    @property
    def survives(self) -> bool:
        return not any(pool.liquidated for pool in self.pools)


@dataclass(frozen=True, slots=True)
class StressReport:
    account: str
    venue: str
    taken_at: datetime
    equity: Decimal
    outcomes: tuple[ShockOutcome, ...]
    ticks: Mapping[str, Decimal] = field(default_factory=frozen_map)  # symbol -> price tick
    memory: str = "a fresh rule memory"  # or the live one, with the steps it has taken


def _outcome(
    snapshot: AccountSnapshot,
    shock: Shock,
    source: str,
    policies: PolicySet,
    venue: VenueRules,
    state: GuardState,
) -> ShockOutcome:
    result = stress(snapshot, shock, venue)
    moved = shocked(snapshot, shock)
    decision = evaluate(moved, policies, state, venue, moved.taken_at)
    planned = plan(decision, moved, venue)
    reasons = tuple(f"{f.rule_id}: {f.reason}" for f in decision.findings if f.request is not None)
    marks = tuple(sorted({p.symbol: p.mark_price for p in moved.positions}.items()))
    return ShockOutcome(
        shock,
        source,
        result.equity,
        result.maintenance_margin,
        result.pools,
        marks,
        planned.orders,
        reasons,
    )


def stress_report(
    snapshot: AccountSnapshot,
    policies: PolicySet,
    venue: VenueRules,
    shocks: Sequence[Shock] | None = None,
    memory: GuardState | None = None,
) -> StressReport:
    """Each default and policy shock on `snapshot` (or only `shocks` when given), the guard's
    orders from `memory` (the account's live rule memory; None: a fresh one)."""
    equity = measure(snapshot, venue).equity
    live = memory if memory is not None else GuardState()
    state = replace(live, equity_peaks=(*live.equity_peaks, (snapshot.taken_at, equity)))
    chosen: list[tuple[Shock, str]] = (
        [(s, "given") for s in shocks]
        if shocks is not None
        else [(s, "default") for s in default_shocks()]
        + [(s, "policy") for s in policy_shocks(policies, snapshot.account)]
    )
    outcomes = tuple(
        _outcome(snapshot, shock, source, policies, venue, state) for shock, source in chosen
    )
    ticks = frozen_map({s: m.price_tick for s, m in snapshot.markets.items()})
    return StressReport(
        snapshot.account,
        snapshot.venue,
        snapshot.taken_at,
        equity,
        outcomes,
        ticks,
        _memory_text(memory),
    )


def _memory_text(memory: GuardState | None) -> str:
    if memory is None:
        return "a fresh rule memory"
    steps = sum(len(e.fired_bands) for e in memory.episodes.values())
    return (
        f"the live rule memory: {len(memory.episodes)} open episode(s), {steps} step(s) "
        "already taken"
    )


__all__ = ["ShockOutcome", "StressReport", "default_shocks", "stress_report"]
