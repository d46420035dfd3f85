"""Composition root: one tick of one account (resolve → snapshot → rails → evaluate → plan →
execute → record), operator flatten requests, and start-up reconciliation. A tick never raises:
one bad account never stops the loop, and no automatic action runs on stale data, past a circuit
breaker, on an unexplained jump, or under an override lock."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from guard.core.audit import AuditEvent, EventKind
from guard.core.domain import (
    ZERO,
    AccountSnapshot,
    Decision,
    GuardState,
    OrderPlan,
    OrderStatus,
    PositionKey,
    Severity,
    frozen_map,
)
from guard.core.engine import evaluate
from guard.core.flatten import flatten_decision
from guard.core.planner import Plan, plan
from guard.core.policy.schema import PolicySet
from guard.core.rails import (
    BreakerLimits,
    Hold,
    PositionChange,
    Rail,
    SanityBounds,
    WindowTotals,
    breaker,
    compare,
    plan_notional,
    staleness,
)
from guard.core.venues.base import VenueRules
from guard.gateway.base import Gateway, GatewayError, PermanentError
from guard.service.executor import ExecutionReport, Executor
from guard.service.logs import tick_logger
from guard.service.metrics import Health, Metrics
from guard.service.notify import AlertKind, Notifier
from guard.store import Store, StoredRequest
from guard.store.lease_queries import Fence

BREACHES = (Severity.BREACH, Severity.CRITICAL)


@dataclass(slots=True)
class AccountRuntime:
    """Everything the service needs to tick one account."""

    name: str
    rules: VenueRules
    gateway: Gateway
    policies: PolicySet
    dry_run: bool = False
    disabled_reason: str | None = None  # set after a permanent error: no further action
    clock: Callable[[], datetime] | None = None  # the account's time (paper: virtual time)
    poll_interval: timedelta = timedelta(seconds=15)
    previous: AccountSnapshot | None = None  # the last snapshot, for the sanity rails
    own_fills: dict[PositionKey, Decimal] = field(default_factory=dict)  # since `previous`
    requests_waiting: bool = True  # operator requests may be pending: look at the next tick
    fence: Fence | None = None  # scale-out: the lease this replica holds on the account


@dataclass(frozen=True, slots=True)
class RailSettings:
    """Which rails are on (None: off)."""

    staleness: timedelta | None = None
    breakers: BreakerLimits | None = None
    sanity: SanityBounds | None = None


@dataclass(frozen=True, slots=True)
class TickReport:
    """The outcome of one tick of one account."""

    account: str
    tick_id: str
    decision: Decision | None
    plan: Plan | None
    execution: ExecutionReport | None
    error: str | None = None
    holds: tuple[Hold, ...] = ()
    changes: tuple[PositionChange, ...] = ()


@dataclass(slots=True)
class GuardService:
    """Ticks accounts; the database is where it meets the operator's commands."""

    store: Store
    accounts: Mapping[str, AccountRuntime]
    clock: Callable[[], datetime]
    actor: str = "guard"
    tick_counts: dict[str, int] = field(default_factory=dict)
    rails: RailSettings = RailSettings()
    notifier: Notifier = field(default_factory=Notifier)
    health: Health = field(default_factory=Health)
    metrics: Metrics | None = None

    def now_of(self, runtime: AccountRuntime) -> datetime:
        return (runtime.clock or self.clock)()

    def executor(self, runtime: AccountRuntime, actor: str | None = None) -> Executor:
        return Executor(
            self.store,
            runtime.gateway,
            runtime.clock or self.clock,
            dry_run=runtime.dry_run,
            actor=actor or self.actor,
            fence=runtime.fence,
        )

    # ----- one tick --------------------------------------------------------------------------
    async def tick(self, account: str) -> TickReport:
        """One level-triggered reconcile step of `account`; errors are audited, never raised."""
        runtime = self.accounts[account]
        started = time.monotonic()
        now = self.now_of(runtime)
        count = self.tick_counts.get(account, 0) + 1
        self.tick_counts[account] = count
        tick_id = f"{account}@{now.strftime('%Y%m%dT%H%M%S.%fZ')}"
        try:
            report = await self._tick(runtime, tick_id, now)
        except Exception as error:  # e.g. the database is down while resolving intents
            message = f"tick failed: {type(error).__name__}: {error}"
            self._error(account, tick_id, runtime.policies.fingerprint, message, now)
            self.health.degrade(account, "tick", message)
            report = TickReport(account, tick_id, None, None, None, message)
        if self.store.problem is None:
            self.health.recover(account, "database")
        else:  # journaling locally (guard.store.journaled_store): still protecting, but say so
            self.health.degrade(account, "database", self.store.problem)
        self._observe(runtime, report, time.monotonic() - started)
        return report

    async def _tick(self, runtime: AccountRuntime, tick_id: str, now: datetime) -> TickReport:
        account = runtime.name
        fingerprint = runtime.policies.fingerprint
        if runtime.disabled_reason is not None:
            return TickReport(account, tick_id, None, None, None, runtime.disabled_reason)
        try:
            await self.resolve(runtime)
            snapshot = await runtime.gateway.fetch_snapshot(account)
        except GatewayError as error:
            return await self._venue_failed(runtime, tick_id, fingerprint, error, now)
        self.health.recover(account, "venue")
        try:
            stale = (
                staleness(snapshot, now, self.rails.staleness)
                if self.rails.staleness is not None
                else None
            )
            flattened = (
                stale is None
                and runtime.requests_waiting
                and await self._flatten_requests(runtime, snapshot, tick_id, now)
            )
            if flattened:
                runtime.previous = None  # our own flatten moved the book: no sanity baseline
                return TickReport(account, tick_id, None, None, None)
            return await self._evaluate(runtime, snapshot, stale, tick_id, fingerprint, now)
        except Exception as error:  # one bad account must never stop the loop
            message = f"tick failed: {type(error).__name__}: {error}"
            self._error(account, tick_id, fingerprint, message, now)
            self.health.degrade(account, "tick", message)
            return TickReport(account, tick_id, None, None, None, str(error))

    async def _venue_failed(
        self,
        runtime: AccountRuntime,
        tick_id: str,
        fingerprint: str,
        error: GatewayError,
        now: datetime,
    ) -> TickReport:
        account = runtime.name
        if isinstance(error, PermanentError):
            runtime.disabled_reason = f"permanent error, no further action: {error}"
            self.health.degrade(account, "disabled", runtime.disabled_reason)
            await self._alert(AlertKind.PERMANENT_ERROR, account, account, str(error))
        self.health.degrade(account, "venue", f"venue unreachable: {error}")
        self._error(account, tick_id, fingerprint, f"snapshot failed: {error}", now)
        return TickReport(account, tick_id, None, None, None, str(error))

    async def _evaluate(
        self,
        runtime: AccountRuntime,
        snapshot: AccountSnapshot,
        stale: Hold | None,
        tick_id: str,
        fingerprint: str,
        now: datetime,
    ) -> TickReport:
        account = runtime.name
        problems = snapshot.inconsistencies()
        if problems:
            return await self._contradictory(runtime, problems, tick_id, fingerprint, now)
        holds: list[Hold] = [stale] if stale is not None else []
        changes: list[PositionChange] = []
        if stale is None and self.rails.sanity is not None:
            jumps, changes = compare(
                runtime.previous, snapshot, runtime.own_fills, self.rails.sanity
            )
            holds.extend(jumps)
        if stale is None:
            runtime.previous = snapshot
            runtime.own_fills = {}
        state = self.store.load_state(account)
        decision = evaluate(snapshot, runtime.policies, state, runtime.rules, evaluated_at=now)
        planned = plan(decision, snapshot, runtime.rules)
        if stale is None:
            stale = _engine_stale(account, decision)
            if stale is not None:
                holds.append(stale)
        events = self._tick_events(account, tick_id, fingerprint, decision, planned)
        events.extend(self._change_events(account, tick_id, fingerprint, changes))
        if planned.orders and not holds and not runtime.dry_run:
            tripped = self._breaker(account, planned.orders, snapshot, now)
            if tripped is not None:
                holds.append(tripped)
        locks = [
            lock
            for lock in self.store.locks(now)
            if any(lock.covers(account, p.symbol) for p in planned.orders)
        ]
        self._rail_health(account, stale, holds)
        await self._announce(runtime, decision, holds, changes)
        events.extend(_hold_event(h, account, tick_id, fingerprint, self.actor) for h in holds)
        execution: ExecutionReport | None = None
        if holds:
            # nothing runs on held data, and no rule memory moves: the previous state is kept,
            # so the held steps fire once the hold is gone
            why = "; ".join(h.reason for h in holds)
            events.extend(
                _suppressed(p, f"held back: {why}", tick_id, fingerprint, self.actor)
                for p in planned.orders
            )
            self.store.record_tick(
                account, tick_id, now, state, _summary(decision), events, runtime.fence
            )
        else:
            # a lock holds back only what it covers: the other markets stay protected. The
            # locked markets keep their previous rule memory, so their steps fire after unlock.
            locked = {
                p.symbol
                for p in planned.orders
                if any(lk.covers(account, p.symbol) for lk in locks)
            }
            next_state = keep_steps(decision.next_state, state, locked)
            if planned.orders:
                execution = await self.executor(runtime).execute(
                    account,
                    planned.orders,
                    tick_id=tick_id,
                    fingerprint=fingerprint,
                    state=next_state,
                    events=events,
                )
                events = []
                held = {p.symbol for p, _ in execution.suppressed} - locked
                next_state = keep_steps(next_state, state, held)
                await self._after_execution(runtime, planned.orders, execution)
            self.store.record_tick(
                account,
                tick_id,
                self.now_of(runtime),
                next_state,
                _summary(decision),
                events,
                runtime.fence,
            )
        return TickReport(
            account, tick_id, decision, planned, execution, None, tuple(holds), tuple(changes)
        )

    async def _contradictory(
        self,
        runtime: AccountRuntime,
        problems: Sequence[str],
        tick_id: str,
        fingerprint: str,
        now: datetime,
    ) -> TickReport:
        """A snapshot that contradicts itself is never evaluated: hold, audit and alert."""
        hold = Hold(
            Rail.SANITY,
            f"snapshot of {runtime.name} contradicts itself: {'; '.join(problems)}; no action",
            f"sanity:{runtime.name}:contradictory",
        )
        self.store.audit([_hold_event(hold, runtime.name, tick_id, fingerprint, self.actor)], now)
        self.health.degrade(runtime.name, "contradictory", hold.reason)
        await self._alert(AlertKind.SANITY, hold.key, runtime.name, hold.reason)
        return TickReport(runtime.name, tick_id, None, None, None, None, (hold,))

    def _breaker(
        self, account: str, plans: Sequence[OrderPlan], snapshot: AccountSnapshot, now: datetime
    ) -> Hold | None:
        limits = self.rails.breakers
        if limits is None:
            return None
        totals = self.store.window_totals(now - limits.window)
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

    async def _announce(
        self,
        runtime: AccountRuntime,
        decision: Decision,
        holds: Sequence[Hold],
        changes: Sequence[PositionChange],
    ) -> None:
        account = runtime.name
        for finding in decision.findings:
            if finding.severity in BREACHES:
                await self._alert(
                    AlertKind.BREACH,
                    f"{account}:{finding.rule_id}:{finding.symbol}",
                    f"{account} {finding.symbol or ''} {finding.rule_id}".strip(),
                    finding.reason,
                )
        kinds = {Rail.STALE: AlertKind.STALE, Rail.BREAKER: AlertKind.BREAKER}
        for hold in holds:
            key = account if hold.rail is Rail.STALE else hold.key
            await self._alert(kinds.get(hold.rail, AlertKind.SANITY), key, account, hold.reason)
        for change in changes:
            await self._alert(
                AlertKind.POSITION_CHANGED,
                f"{account}:{change.key.symbol}:{change.key.side.value}:{change.after}",
                account,
                change.describe(),
            )

    async def _after_execution(
        self, runtime: AccountRuntime, plans: Sequence[OrderPlan], execution: ExecutionReport
    ) -> None:
        by_id = {p.client_order_id: p for p in plans}
        for result in execution.results:
            known = by_id.get(result.client_order_id)
            if known is not None and result.filled_quantity > ZERO:
                runtime.own_fills[known.key] = (
                    runtime.own_fills.get(known.key, ZERO) + result.filled_quantity
                )
            if self.metrics is not None:
                self.metrics.orders.labels(runtime.name, result.status.value).inc()
            target = f"{known.side.value} {known.quantity} {known.symbol}" if known else ""
            await self._alert(
                AlertKind.ORDER,
                result.client_order_id,
                f"{runtime.name} {result.status.value}",
                f"reduce-only {target}: {result.status.value}, filled {result.filled_quantity}"
                + (f" at {result.average_price}" if result.average_price is not None else "")
                + (f" — {result.message}" if result.message else ""),
            )
        if self.metrics is not None:
            for _ in execution.would_place:
                self.metrics.orders.labels(runtime.name, OrderStatus.WOULD_PLACE.value).inc()
            for _ in execution.suppressed:
                self.metrics.orders.labels(runtime.name, OrderStatus.SUPPRESSED.value).inc()

    async def _alert(self, kind: AlertKind, key: str, title: str, body: str) -> None:
        verdict = await self.notifier.alert(kind, key, title, body)
        if self.metrics is not None:
            self.metrics.alerts.labels(verdict).inc()

    def _observe(self, runtime: AccountRuntime, report: TickReport, seconds: float) -> None:
        if report.error is None:
            self.health.succeeded(runtime.name)
        outcome = "error" if report.error else ("held" if report.holds else "ok")
        if self.metrics is not None:
            self.metrics.ticks.labels(runtime.name, outcome).inc()
            self.metrics.tick_seconds.labels(runtime.name).observe(seconds)
            for finding in report.decision.findings if report.decision else ():
                self.metrics.findings.labels(runtime.name, finding.severity.value).inc()
            for hold in report.holds:
                self.metrics.holds.labels(runtime.name, hold.rail.value).inc()
        decision = report.decision
        execution = report.execution
        tick_logger(runtime.name, report.tick_id).info(
            "tick",
            outcome=outcome,
            duration_ms=round(seconds * 1000, 2),
            findings=len(decision.findings) if decision else 0,
            breaches=sum(1 for f in decision.findings if f.severity in BREACHES) if decision else 0,
            planned=len(report.plan.orders) if report.plan else 0,
            sent=execution.sent if execution else 0,
            statuses=[r.status.value for r in execution.results] if execution else [],
            would_place=len(execution.would_place) if execution else 0,
            holds=[h.reason for h in report.holds],
            position_changes=[c.describe() for c in report.changes],
            dry_run=runtime.dry_run,
            error=report.error,
        )

    # ----- operator requests -------------------------------------------------------------------
    async def _flatten_requests(
        self, runtime: AccountRuntime, snapshot: AccountSnapshot, tick_id: str, now: datetime
    ) -> bool:
        """Carry out pending flatten requests (overriding locks); True when any was handled."""
        runtime.requests_waiting = False
        requests = self.store.pending_requests(runtime.name)
        for request in requests:
            await self._flatten(runtime, snapshot, request, tick_id, now)
        return bool(requests)

    async def _flatten(
        self,
        runtime: AccountRuntime,
        snapshot: AccountSnapshot,
        request: StoredRequest,
        tick_id: str,
        now: datetime,
    ) -> None:
        try:
            decision = flatten_decision(
                snapshot,
                request.market,
                request.fraction,
                request.reason,
                request.actor,
                request.id,
            )
        except ValueError as error:
            self.store.complete_request(
                request.id, f"invalid: {error}", now, failed=True, tick_id=tick_id
            )
            return
        planned = plan(decision, snapshot, runtime.rules)
        if not planned.orders:
            skipped = "; ".join(s.reason for s in planned.skipped)
            outcome = "nothing to reduce" + (f" ({skipped})" if skipped else "")
            self.store.complete_request(request.id, outcome, now, tick_id=tick_id)
            return
        execution = await self.executor(runtime, actor=request.actor).execute(
            runtime.name,
            planned.orders,
            tick_id=tick_id,
            fingerprint=runtime.policies.fingerprint,
            state=None,
            override_locks=True,
        )
        await self._after_execution(runtime, planned.orders, execution)
        if execution.would_place:
            outcome = f"dry-run: would place {len(execution.would_place)} order(s)"
            failed = False
        else:
            statuses = [r.status.value for r in execution.results]
            duplicates = len(execution.duplicates)
            outcome = f"{len(statuses)} order(s): {', '.join(statuses) or 'none sent'}" + (
                f"; {duplicates} already sent before" if duplicates else ""
            )
            failed = (
                not any(
                    r.status in (OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED)
                    for r in execution.results
                )
                and not duplicates
            )
        self.store.complete_request(
            request.id, outcome, self.now_of(runtime), failed=failed, tick_id=tick_id
        )

    # ----- audit helpers ---------------------------------------------------------------------
    def _tick_events(
        self, account: str, tick_id: str, fingerprint: str, decision: Decision, planned: Plan
    ) -> list[AuditEvent]:
        metrics = {k: v for k, v in decision.metrics.items()}
        breaches = [f for f in decision.findings if f.severity in BREACHES]
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

    def _change_events(
        self,
        account: str,
        tick_id: str,
        fingerprint: str,
        changes: Sequence[PositionChange],
    ) -> list[AuditEvent]:
        return [
            AuditEvent(
                EventKind.POSITION_CHANGED,
                change.describe(),
                account=account,
                symbol=change.key.symbol,
                tick_id=tick_id,
                fingerprint=fingerprint,
                actor=self.actor,
                payload={
                    "side": change.key.side.value,
                    "before": change.before,
                    "after": change.after,
                    "own_fills": change.own_fills,
                    "vanished": change.vanished,
                },
            )
            for change in changes
        ]

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

    # ----- reconciliation ----------------------------------------------------------------------
    async def resolve(self, runtime: AccountRuntime, *, startup: bool = False) -> int:
        """Resolve the account's unfinished intents by client id; returns how many were looked at.

        At start-up an order the venue never saw is sent once (young) or abandoned (old). During
        ticks only intents that were never handed to the venue (pending) are sent; a sent or
        unknown one is only looked up, never resent by a tick. The position is re-read once so
        a send is clipped to what is still open. Raises GatewayError when the venue is down.
        """
        intents = self.store.unresolved_intents(runtime.name)
        if not intents:
            return 0
        snapshot = await runtime.gateway.fetch_snapshot(runtime.name)
        plans: dict[str, OrderPlan] = {}
        for intent in intents:
            position = snapshot.position(intent.key)
            remaining = intent.quantity - intent.filled_quantity
            quantity = ZERO if position is None else min(remaining, position.quantity)
            plans[intent.client_order_id] = intent.as_plan(max(quantity, ZERO))
        executor = self.executor(runtime)
        if startup:
            await executor.reconcile(intents, plans)
        else:
            unsent = [i for i in intents if i.status is OrderStatus.PENDING]
            handed = [i for i in intents if i.status is not OrderStatus.PENDING]
            await executor.reconcile(handed, plans, resend=False)
            await executor.reconcile(unsent, plans)
        return len(intents)

    async def reconcile(self) -> int:
        """Resolve every unfinished intent of every account before the first tick."""
        resolved = 0
        for runtime in self.accounts.values():
            try:
                resolved += await self.resolve(runtime, startup=True)
            except GatewayError as error:  # unreachable: tried again at the account's ticks
                self._error(
                    runtime.name,
                    f"{runtime.name}@reconcile",
                    runtime.policies.fingerprint,
                    f"start-up reconciliation failed: {error}",
                    self.now_of(runtime),
                )
        return resolved


def _engine_stale(account: str, decision: Decision) -> Hold | None:
    """The policy's own stale_data verdict, as a hold (so no rule memory moves on old data)."""
    for finding in decision.findings:
        if finding.kind == "stale_data" and finding.severity is Severity.CRITICAL:
            return Hold(Rail.STALE, finding.reason, f"stale:{account}")
    return None


def _hold_event(hold: Hold, account: str, tick_id: str, fingerprint: str, actor: str) -> AuditEvent:
    return AuditEvent(
        EventKind.ALERT,
        hold.reason,
        account=account,
        tick_id=tick_id,
        fingerprint=fingerprint,
        actor=actor,
        payload={"kind": f"rail_{hold.rail.value}", "severity": "critical", "key": hold.key},
    )


def _suppressed(
    plan_: OrderPlan, why: str, tick_id: str, fingerprint: str, actor: str
) -> AuditEvent:
    return AuditEvent(
        EventKind.ORDER_SUPPRESSED,
        f"suppressed: reduce-only {plan_.side.value} {plan_.quantity} {plan_.symbol} — {why}",
        account=plan_.account,
        symbol=plan_.symbol,
        rule_id=",".join(plan_.rule_ids) or None,
        tick_id=tick_id,
        fingerprint=fingerprint,
        actor=actor,
        client_order_id=plan_.client_order_id,
        payload={"quantity": plan_.quantity, "reason": plan_.reason, "held": why},
    )


def _summary(decision: Decision) -> dict[str, Any]:
    breaches = sum(1 for f in decision.findings if f.severity in BREACHES)
    return {**{k: v for k, v in decision.metrics.items()}, "open_breaches": breaches}


def _symbol_of(state_key: str) -> str | None:
    """The market of a per-position rule-memory key ("rule|symbol|side[|...]"); None for
    account-wide keys ("rule|@account")."""
    parts = state_key.split("|")
    return parts[1] if len(parts) >= 3 else None


def keep_steps(next_state: GuardState, previous: GuardState, symbols: set[str]) -> GuardState:
    """`next_state` with the per-position rule memory of `symbols` taken from `previous`, so steps
    held back on those markets (by a lock) are not marked as done and fire once released."""
    if not symbols:
        return next_state

    def pick(new: Mapping[str, Any], old: Mapping[str, Any]) -> Mapping[str, Any]:
        kept = {k: v for k, v in new.items() if _symbol_of(k) not in symbols}
        kept.update({k: v for k, v in old.items() if _symbol_of(k) in symbols})
        return frozen_map(dict(sorted(kept.items())))

    return replace(
        next_state,
        episodes=pick(next_state.episodes, previous.episodes),
        episode_counters=pick(next_state.episode_counters, previous.episode_counters),
        counters=pick(next_state.counters, previous.counters),
        last_fired=pick(next_state.last_fired, previous.last_fired),
    )
