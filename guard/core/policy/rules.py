"""Shared shapes of the rule kinds (pure): the context a rule reads, the outcome it returns, the
stale_data kind; never raises for a denial, never reads a clock (now is snapshot.taken_at)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from guard.core.domain import (
    AccountSnapshot,
    Alert,
    Finding,
    GuardState,
    LadderEpisode,
    Position,
    Severity,
    frozen_map,
)
from guard.core.margin import AccountMetrics
from guard.core.policy.schema_fields import RuleBase
from guard.core.policy.schema_levels import StaleDataRule
from guard.core.venues.base import VenueRules
from guard.core.volatility import CandleSeries


@dataclass(frozen=True, slots=True)
class RuleContext:
    """Everything a rule may look at: the snapshot, its metrics and the remembered state."""

    snapshot: AccountSnapshot
    metrics: AccountMetrics
    state: GuardState
    venue: VenueRules
    drawdown: Decimal | None = None  # account equity drawdown from its peak, if known
    peaks: tuple[tuple[datetime, Decimal], ...] = ()  # (time, equity) queue, running peak first
    candles: Mapping[str, CandleSeries] = field(default_factory=frozen_map)  # by candle_key
    # selector -> the positions it picks, in key order (see reductions.selected): one scan and
    # sort per distinct selector per evaluation, however many rules share it
    selections: dict[object, tuple[Position, ...]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )


# one empty read-only mapping shared by every outcome that remembers nothing (most of them)
_EMPTY: Mapping[Any, Any] = frozen_map()


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    """Findings of one rule plus the state it wants remembered (None removes an episode)."""

    findings: tuple[Finding, ...] = ()
    alerts: tuple[Alert, ...] = ()
    episodes: Mapping[str, LadderEpisode | None] = field(default_factory=lambda: _EMPTY)
    episode_counters: Mapping[str, int] = field(default_factory=lambda: _EMPTY)
    fired_at: Mapping[str, datetime] = field(default_factory=lambda: _EMPTY)
    counters: Mapping[str, int | None] = field(default_factory=lambda: _EMPTY)  # None removes


def stale_data(rule: StaleDataRule, ctx: RuleContext, age: Decimal | None) -> RuleOutcome:
    """Alert (never order) when the snapshot is older than the rule's bound."""
    if age is None or age <= Decimal(str(rule.max_age.total_seconds())):
        return RuleOutcome()
    message = (
        f"snapshot is {age}s old, above the {rule.max_age.total_seconds():g}s bound: "
        f"no orders on stale data"
    )
    finding = Finding(rule.id, rule_kind(rule), Severity.CRITICAL, message)
    alert = Alert("stale_data", Severity.CRITICAL, message, ctx.snapshot.account)
    return RuleOutcome((finding,), (alert,))


def rule_kind(rule: RuleBase) -> str:
    kind = getattr(rule, "kind", None)
    return str(kind) if kind is not None else type(rule).__name__


RuleFunction = Callable[[RuleBase, RuleContext], RuleOutcome]
