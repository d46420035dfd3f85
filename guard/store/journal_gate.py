"""The egress gate while the database is down: decided from the locks as last read and the breaker
window as last read plus this process's own intents since. Pure (no database); the journaled store
journals the outcome."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from guard.core.domain import ZERO, OrderPlan
from guard.core.gate import GateInputs, GateVerdict, LockSeen, gate_verdict
from guard.core.rails import WindowTotals
from guard.store.egress import SendCheck
from guard.store.intent_records import StoredIntent
from guard.store.locks import lock_description
from guard.store.records import StoredLock


def offline_verdict(
    plan: OrderPlan,
    check: SendCheck,
    locks: Sequence[StoredLock],
    totals: Mapping[str, tuple[int, Decimal]],
    known: StoredIntent | None,
) -> GateVerdict:
    """The gate's verdict on what this process last knew."""
    mine = totals.get(plan.account, (0, ZERO))
    return gate_verdict(
        GateInputs(
            account=plan.account,
            symbol=plan.symbol,
            final_status=(
                known.status.value if known is not None and known.status.is_final else None
            ),
            problems=check.problems,
            snapshot_age=check.snapshot_age,
            max_age=check.max_age,
            covering_locks=tuple(
                LockSeen(
                    lock.id,
                    f"{lock_description(lock)} [as last read before the database outage]",
                )
                for lock in sorted(locks, key=lambda lock: lock.id)
                if lock.is_active(check.locks_at) and lock.covers(plan.account, plan.symbol)
            )
            + check.paused,
            override_locks=check.override_locks,
            notional=check.notional,
            # this intent may already be among the totals: counting it again errs on the side
            # of the breaker (never under-counted)
            account_window=WindowTotals(*mine),
            global_window=WindowTotals(
                sum(c for c, _ in totals.values()), sum((n for _, n in totals.values()), ZERO)
            ),
            breakers=check.breakers,
            automatic=not check.override_locks,
        )
    )
