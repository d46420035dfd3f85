"""The egress gate's verdict on one order at the moment of sending. Pure: the caller reads the
locks, the breaker window and the fresh snapshot in the transaction that marks the order sent.

Checked in this order: the snapshot is fit to act on, it is fresh, no lock covers the account or
market (a human's flatten passes locks, and the verdict names each lock it overrode), and the
circuit breakers still have room (automatic orders only). Any hold means: never sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from enum import StrEnum

from guard.core.rails import BreakerLimits, WindowTotals, breaker


class GateRail(StrEnum):
    """Why the gate held an order back."""

    FINAL = "final"  # the intent already has a final outcome: it must never go out again
    SANITY = "sanity"  # the fresh snapshot is unfit to act on
    STALE = "stale"  # the fresh snapshot is older than the staleness bound
    LOCK = "lock"  # an operator's lock covers the account or market
    BREAKER = "breaker"  # the circuit breakers' window is full


@dataclass(frozen=True, slots=True)
class LockSeen:
    """An active lock as the gate saw it: its id and how to name it to a human."""

    id: int
    description: str


@dataclass(frozen=True, slots=True)
class GateInputs:
    """Everything the gate decides on, read fresh just before the send."""

    account: str
    symbol: str
    final_status: str | None  # the intent's status when it is already final, else None
    problems: tuple[str, ...]  # snapshot_problems of the fresh snapshot
    snapshot_age: timedelta
    max_age: timedelta | None
    covering_locks: tuple[LockSeen, ...]
    override_locks: bool  # a human's flatten
    notional: Decimal  # of this order at the fresh mark
    account_window: WindowTotals  # this account's orders in the breaker window, this one apart
    global_window: WindowTotals
    breakers: BreakerLimits | None
    automatic: bool = True  # breakers bind automatic orders, not a human's flatten


@dataclass(frozen=True, slots=True)
class GateVerdict:
    """Pass (held is None) or hold with a reason; `overridden` names the locks a flatten passed."""

    held: str | None = None
    rail: GateRail | None = None
    overridden: tuple[LockSeen, ...] = ()

    @property
    def passes(self) -> bool:
        return self.held is None


def gate_verdict(inputs: GateInputs) -> GateVerdict:
    """Pass or hold one order; the reason names what held it for the audit and the alert."""
    where = f"{inputs.account} {inputs.symbol}"
    if inputs.final_status is not None:
        return GateVerdict(
            f"intent of {where} is already {inputs.final_status}: never sent again",
            GateRail.FINAL,
        )
    if inputs.problems:
        return GateVerdict(
            f"snapshot of {inputs.account} unfit to act on at send time: "
            + "; ".join(inputs.problems),
            GateRail.SANITY,
        )
    if inputs.max_age is not None and inputs.snapshot_age > inputs.max_age:
        return GateVerdict(
            f"snapshot of {inputs.account} is {inputs.snapshot_age.total_seconds():.1f}s old at "
            f"send time (bound {inputs.max_age.total_seconds():g}s)",
            GateRail.STALE,
        )
    locks = _ordered(inputs.covering_locks)
    if locks and not inputs.override_locks:
        return GateVerdict(f"held back at send time by {locks[0].description}", GateRail.LOCK)
    if inputs.automatic and inputs.breakers is not None:
        tripped = breaker(
            inputs.account,
            1,
            inputs.notional,
            inputs.account_window,
            inputs.global_window,
            inputs.breakers,
        )
        if tripped is not None:
            return GateVerdict(f"at send time: {tripped.reason}", GateRail.BREAKER)
    return GateVerdict(overridden=locks if inputs.override_locks else ())


def _ordered(locks: Sequence[LockSeen]) -> tuple[LockSeen, ...]:
    return tuple(sorted(locks, key=lambda lock: lock.id))
