"""What a tick tells the outside world (alerts through the notifier, metrics, its log line), and the
own fills it notes for the sanity rail. A part of GuardService (I/O: notifier, metrics, log); it
decides nothing."""

from __future__ import annotations

from collections.abc import Sequence

from guard.core.domain import ZERO, Decision, OrderPlan, OrderStatus
from guard.core.numbers import plain, result_alert_text
from guard.core.rails import Hold, PositionChange, Rail
from guard.service.executor import ExecutionReport
from guard.service.logs import tick_logger
from guard.service.notify import AlertKind
from guard.service.runtime import AccountRuntime, TickReport
from guard.service.service_base import ServiceBase
from guard.service.tick_events import BREACHES


class Alerts(ServiceBase):
    """GuardService's alerts and observation (see guard.service.tick)."""

    __slots__ = ()

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
                    account,
                )
        kinds = {Rail.STALE: AlertKind.STALE, Rail.BREAKER: AlertKind.BREAKER}
        for hold in holds:
            key = account if hold.rail is Rail.STALE else hold.key
            await self._alert(
                kinds.get(hold.rail, AlertKind.SANITY), key, account, hold.reason, account
            )
        for change in changes:
            await self._alert(
                AlertKind.POSITION_CHANGED,
                f"{account}:{change.key.symbol}:{change.key.side.value}:{change.after}",
                account,
                change.describe(),
                account,
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
            await self._alert(
                AlertKind.ORDER,
                result.client_order_id,
                f"{runtime.name} {result.status.value}",
                result_alert_text(known, result),
                runtime.name,
            )
        for held, why in execution.gate_holds:  # the egress gate stopped it at send time
            await self._alert(
                AlertKind.LOCK if "lock #" in why else AlertKind.SANITY,
                f"{held.client_order_id}:held",
                f"{runtime.name} order held back",
                f"reduce-only {held.side.value} {plain(held.quantity)} {held.symbol} not sent: {why}",
                runtime.name,
            )
        if self.metrics is not None:
            for _ in execution.would_place:
                self.metrics.orders.labels(runtime.name, OrderStatus.WOULD_PLACE.value).inc()
            for _ in execution.suppressed:
                self.metrics.orders.labels(runtime.name, OrderStatus.SUPPRESSED.value).inc()

    async def _alert(
        self, kind: AlertKind, key: str, title: str, body: str, account: str | None = None
    ) -> None:
        verdict = await self.notifier.alert(kind, key, title, body, account)
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
        log = tick_logger(runtime.name, report.tick_id)
        (log.error if report.error else log.info)(
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
