"""Composition root: one tick of one account (snapshot → state → evaluate → plan → execute → record),
the per-account scheduler, and start-up reconciliation. The loop never dies on one bad account."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from guard.audit import AuditEvent, EventKind
from guard.domain import ZERO, Decision, Severity
from guard.engine import evaluate
from guard.executor import ExecutionReport, Executor
from guard.gateway.base import Gateway, GatewayError, PermanentError
from guard.planner import Plan, plan
from guard.policy.schema import PolicySet
from guard.store import Store
from guard.venues.base import VenueRules


@dataclass(slots=True)
class AccountRuntime:
    """Everything the service needs to tick one account."""

    name: str
    rules: VenueRules
    gateway: Gateway
    policies: PolicySet
    dry_run: bool = False
    disabled_reason: str | None = None  # set after a permanent error: no further action


@dataclass(frozen=True, slots=True)
class TickReport:
    """The outcome of one tick of one account."""

    account: str
    tick_id: str
    decision: Decision | None
    plan: Plan | None
    execution: ExecutionReport | None
    error: str | None = None


@dataclass(slots=True)
class GuardService:
    """Ticks accounts; the database is where it meets the operator's commands."""

    store: Store
    accounts: Mapping[str, AccountRuntime]
    clock: Callable[[], datetime]
    actor: str = "guard"
    tick_counts: dict[str, int] = field(default_factory=dict)

    def executor(self, runtime: AccountRuntime) -> Executor:
        return Executor(
            self.store, runtime.gateway, self.clock, dry_run=runtime.dry_run, actor=self.actor
        )

    async def tick(self, account: str) -> TickReport:
        """One level-triggered reconcile step of `account`; errors are audited, never raised."""
        runtime = self.accounts[account]
        now = self.clock()
        count = self.tick_counts.get(account, 0) + 1
        self.tick_counts[account] = count
        tick_id = f"{account}@{now.strftime('%Y%m%dT%H%M%S.%fZ')}"
        fingerprint = runtime.policies.fingerprint
        if runtime.disabled_reason is not None:
            return TickReport(account, tick_id, None, None, None, runtime.disabled_reason)
        try:
            snapshot = await runtime.gateway.fetch_snapshot(account)
        except GatewayError as error:
            if isinstance(error, PermanentError):
                runtime.disabled_reason = f"permanent error, no further action: {error}"
            self._error(account, tick_id, fingerprint, f"snapshot failed: {error}", now)
            return TickReport(account, tick_id, None, None, None, str(error))
        try:
            state = self.store.load_state(account)
            decision = evaluate(snapshot, runtime.policies, state, runtime.rules, evaluated_at=now)
            planned = plan(decision, snapshot, runtime.rules)
            events = self._tick_events(account, tick_id, fingerprint, decision, planned)
            execution: ExecutionReport | None = None
            if planned.orders:
                execution = await self.executor(runtime).execute(
                    account,
                    planned.orders,
                    tick_id=tick_id,
                    fingerprint=fingerprint,
                    state=decision.next_state,
                    events=events,
                )
                events = []
            self.store.record_tick(
                account, tick_id, self.clock(), decision.next_state, _summary(decision), events
            )
            return TickReport(account, tick_id, decision, planned, execution)
        except Exception as error:  # one bad account must never stop the loop
            self._error(
                account, tick_id, fingerprint, f"tick failed: {type(error).__name__}: {error}", now
            )
            return TickReport(account, tick_id, None, None, None, str(error))

    def _tick_events(
        self, account: str, tick_id: str, fingerprint: str, decision: Decision, planned: Plan
    ) -> list[AuditEvent]:
        metrics = {k: v for k, v in decision.metrics.items()}
        breaches = [
            f for f in decision.findings if f.severity in (Severity.BREACH, Severity.CRITICAL)
        ]
        events = [
            AuditEvent(
                EventKind.EVALUATION,
                f"evaluated {account}: {len(decision.findings)} finding(s), "
                f"{len(breaches)} breach(es), {len(planned.orders)} order(s) planned",
                account=account,
                tick_id=tick_id,
                fingerprint=fingerprint,
                actor=self.actor,
                payload={"metrics": metrics, "taken_at": decision.taken_at},
            )
        ]
        for finding in decision.findings:
            events.append(
                AuditEvent(
                    EventKind.FINDING,
                    finding.reason,
                    account=account,
                    symbol=finding.symbol,
                    rule_id=finding.rule_id,
                    tick_id=tick_id,
                    fingerprint=fingerprint,
                    actor=self.actor,
                    payload={
                        "kind": finding.kind,
                        "severity": finding.severity.value,
                        "metric": finding.metric,
                        "value": finding.value,
                        "threshold": finding.threshold,
                        "side": finding.side.value if finding.side else None,
                        "reduce": finding.request.quantity if finding.request else None,
                    },
                )
            )
        for alert in decision.alerts:
            events.append(
                AuditEvent(
                    EventKind.ALERT,
                    alert.message,
                    account=account,
                    symbol=alert.symbol,
                    tick_id=tick_id,
                    fingerprint=fingerprint,
                    actor=self.actor,
                    payload={"kind": alert.kind, "severity": alert.severity.value},
                )
            )
        for skipped in planned.skipped:
            events.append(
                AuditEvent(
                    EventKind.ORDER_SKIPPED,
                    f"not planned: {skipped.reason}",
                    account=account,
                    symbol=skipped.reduction.key.symbol,
                    rule_id=",".join(skipped.reduction.rule_ids),
                    tick_id=tick_id,
                    fingerprint=fingerprint,
                    actor=self.actor,
                    payload={"quantity": skipped.reduction.quantity},
                )
            )
        return events

    def _error(
        self, account: str, tick_id: str, fingerprint: str, message: str, now: datetime
    ) -> None:
        try:
            self.store.audit(
                [
                    AuditEvent(
                        EventKind.ERROR,
                        message,
                        account=account,
                        tick_id=tick_id,
                        fingerprint=fingerprint,
                        actor=self.actor,
                    )
                ],
                now,
            )
        except Exception:  # the database itself is down: nothing more to do here
            return

    async def reconcile(self) -> int:
        """Resolve every unfinished intent by client id before the first tick; returns how many.

        The position is re-read first so a resend (of an order that never arrived) is clipped to
        what is still open.
        """
        resolved = 0
        for intent in self.store.unresolved_intents():
            runtime = self.accounts.get(intent.account)
            if runtime is None:
                continue
            quantity = intent.quantity - intent.filled_quantity
            try:
                snapshot = await runtime.gateway.fetch_snapshot(intent.account)
            except GatewayError:
                continue  # the venue is unreachable: the intent stays unresolved, tried again
            position = snapshot.position(intent.key)
            quantity = ZERO if position is None else min(quantity, position.quantity)
            plan_now = intent.as_plan(quantity)
            await self.executor(runtime).reconcile([intent], {intent.client_order_id: plan_now})
            resolved += 1
        return resolved


def _summary(decision: Decision) -> dict[str, Any]:
    breaches = sum(
        1 for f in decision.findings if f.severity in (Severity.BREACH, Severity.CRITICAL)
    )
    return {**{k: v for k, v in decision.metrics.items()}, "open_breaches": breaches}
