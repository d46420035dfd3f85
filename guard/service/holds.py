"""The rails' holds inside a tick: a contradictory snapshot, the circuit breaker, the policy's own
stale-data verdict, and the health they leave. A part of GuardService (I/O: the store, alerts); a
hold means no automatic action and no rule memory moves."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from guard.core.domain import ZERO, AccountSnapshot, Decision, OrderPlan, Severity
from guard.core.rails import Hold, Rail, WindowTotals, breaker, plan_notional
from guard.service.alerts import Alerts
from guard.service.notify import AlertKind
from guard.service.runtime import AccountRuntime, TickReport
from guard.service.tick_events import hold_event


class RailHolds(Alerts):
    """GuardService's rail holds (see guard.service.tick)."""

    __slots__ = ()

    async def _contradictory(
        self,
        runtime: AccountRuntime,
        problems: Sequence[str],
        tick_id: str,
        fingerprint: str,
        now: datetime,
    ) -> TickReport:
        """A snapshot that contradicts itself or carries a number outside its domain is never
        evaluated: hold, audit (naming venue, part and field) and alert."""
        hold = Hold(
            Rail.SANITY,
            f"snapshot of {runtime.name} is unfit to act on: {'; '.join(problems)}; no action",
            f"sanity:{runtime.name}:contradictory",
        )
        await self.db.run(
            self.store.audit,
            [hold_event(hold, runtime.name, tick_id, fingerprint, self.actor)],
            now,
        )
        self.health.degrade(runtime.name, "contradictory", hold.reason)
        await self._alert(AlertKind.SANITY, hold.key, runtime.name, hold.reason, runtime.name)
        return TickReport(runtime.name, tick_id, None, None, None, None, (hold,))

    async def _breaker(
        self, account: str, plans: Sequence[OrderPlan], snapshot: AccountSnapshot, now: datetime
    ) -> Hold | None:
        limits = self.rails.breakers
        if limits is None:
            return None
        totals = await self.db.run(self.store.window_totals, now - limits.window)
        mine = WindowTotals(*totals.get(account, (0, ZERO)))
        everyone = WindowTotals(
            sum(c for c, _ in totals.values()), sum((n for _, n in totals.values()), ZERO)
        )
        found = breaker(account, len(plans), plan_notional(plans, snapshot), mine, everyone, limits)
        if found is not None and self.metrics is not None:
            self.metrics.breaker_trips.labels(account).inc()
        return found

    def _rail_health(self, account: str, stale: Hold | None, holds: Sequence[Hold]) -> None:
        if stale is None:
            self.health.recover(account, "stale")
            self.notifier.forget(f"{AlertKind.STALE.value}:{account}")
        else:
            self.health.degrade(account, "stale", stale.reason)
        if any(h.rail is Rail.BREAKER for h in holds):
            reason = next(h.reason for h in holds if h.rail is Rail.BREAKER)
            self.health.degrade(account, "breaker", reason)
        else:
            self.health.recover(account, "breaker")
        self.health.recover(account, "tick")
        self.health.recover(account, "contradictory")


def engine_stale(account: str, decision: Decision) -> Hold | None:
    """The policy's own stale_data verdict, as a hold (so no rule memory moves on old data)."""
    for finding in decision.findings:
        if finding.kind == "stale_data" and finding.severity is Severity.CRITICAL:
            return Hold(Rail.STALE, finding.reason, f"stale:{account}")
    return None
