"""What a tick tells the outside world (alerts through the notifier, metrics, its log line), and the
own fills it notes for the sanity rail. A part of GuardService (I/O: notifier, metrics, log); it
decides nothing."""

from __future__ import annotations

import re
from collections.abc import Sequence

from guard.core.domain import ZERO, Decision, MarketSpec, OrderPlan, OrderStatus, Severity
from guard.core.numbers import plain, result_alert_text
from guard.core.position_risk import proximity_lines
from guard.core.rails import Hold, PositionChange, Rail
from guard.service.executor import ExecutionReport
from guard.service.logs import logger, tick_logger
from guard.service.notify import AlertKind
from guard.service.runtime import AccountRuntime, TickReport
from guard.service.service_base import ServiceBase
from guard.service.tick_events import BREACHES

# Order outcomes that are news, not trouble (anything else, e.g. rejected or abandoned, warns).
_ROUTINE = frozenset(
    {
        OrderStatus.FILLED,
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.ACKNOWLEDGED,
        OrderStatus.SENT,
        OrderStatus.WOULD_PLACE,
    }
)


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
        if not runtime.proximity_warned:
            await self._rank_at_start(runtime, decision)
        for alert in decision.alerts:  # alert-only rules, start-up bands, divergences
            title = f"{account} {alert.symbol or ''} {alert.kind}".strip()
            await self._alert(
                AlertKind.RULE_ALERT,
                f"{account}:{alert.kind}:{alert.symbol or ''}:{_shape(alert.message)}",
                f"{title} (dry-run)" if runtime.dry_run else title,
                alert.message,
                account=account,
                severity=alert.severity,
            )
        for finding in decision.findings:
            if finding.severity in BREACHES:
                title = f"{account} {finding.symbol or ''} {finding.rule_id}".strip()
                body = finding.reason
                if runtime.dry_run:  # what a dry-run account's guard would do, never did
                    title = f"{title} (dry-run)"
                    body = f"{body} — dry-run: the guard would act on this; nothing is sent"
                await self._alert(
                    AlertKind.BREACH,
                    f"{account}:{finding.rule_id}:{finding.symbol}",
                    title,
                    body,
                    account=account,
                    severity=Severity.CRITICAL
                    if finding.severity is Severity.CRITICAL
                    else Severity.WARNING,
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

    async def _rank_at_start(self, runtime: AccountRuntime, decision: Decision) -> None:
        """Once per account and start: one warning and one log line listing its positions,
        nearest liquidation first, before the guard has acted on any of them."""
        runtime.proximity_warned = True
        if not decision.positions:
            return
        lines = proximity_lines(decision.positions)
        logger(service="guard", account=runtime.name).warning(
            "startup_liquidation_proximity", positions=list(lines)
        )
        await self._alert(
            AlertKind.PROXIMITY,
            f"{runtime.name}:startup",
            f"{runtime.name} start-up: {len(lines)} position(s), nearest liquidation first",
            "\n".join(lines),
            account=runtime.name,
            severity=Severity.WARNING,
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
                result_alert_text(known, result, self._market(runtime, known)),
                account=runtime.name,
                severity=Severity.INFO if result.status in _ROUTINE else Severity.WARNING,
            )
        for held, why in execution.gate_holds:  # the egress gate stopped it at send time
            await self._alert(
                AlertKind.LOCK if "lock #" in why else AlertKind.SANITY,
                f"{held.client_order_id}:held",
                f"{runtime.name} order held back",
                f"reduce-only {held.side.value} {plain(held.quantity)} {held.symbol} not sent: {why}",
                account=runtime.name,
                severity=Severity.WARNING,
            )
        for plan in execution.would_place:  # dry-run: said as what would have been sent
            await self._alert(
                AlertKind.ORDER,
                f"{plan.client_order_id}:would",
                f"{runtime.name} would place (dry-run)",
                f"would send reduce-only {plan.side.value} {plain(plan.quantity)} {plan.symbol}"
                " — dry-run: nothing was sent",
            )
        if self.metrics is not None:
            for _ in execution.would_place:
                self.metrics.orders.labels(runtime.name, OrderStatus.WOULD_PLACE.value).inc()
            for _ in execution.suppressed:
                self.metrics.orders.labels(runtime.name, OrderStatus.SUPPRESSED.value).inc()

    @staticmethod
    def _market(runtime: AccountRuntime, plan: OrderPlan | None) -> MarketSpec | None:
        """The plan's market as the account's last snapshot describes it (for its tick)."""
        if plan is None or runtime.previous is None:
            return None
        return runtime.previous.markets.get(plan.symbol)

    async def _alert(
        self,
        kind: AlertKind,
        key: str,
        title: str,
        body: str,
        account: str | None = None,
        severity: Severity | None = None,
    ) -> None:
        verdict = await self.notifier.alert(
            kind, key, title, body, account=account, severity=severity
        )
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
            self.metrics.observe_account(
                runtime.name,
                report.decision.metrics if report.decision else None,
                dry_run=runtime.dry_run,
                disabled=runtime.disabled_reason is not None,
            )
        decision = report.decision
        execution = report.execution
        log = tick_logger(runtime.name, report.tick_id)
        # failed: error; held back by a rail (stale data, breaker, sanity): warning; else info
        (log.error if report.error else log.warning if report.holds else log.info)(
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


def _shape(message: str) -> str:
    """An alert's text with its figures blanked: the same alert restated with new figures is
    one alert per dedup window; another rule, band or episode is another alert."""
    named = _NAMED.sub(lambda m: f"{m.group(1)} {m.group(2).translate(_LETTERS)}", message)
    return _FIGURES.sub("#", named)[:160]


_NAMED = re.compile(r"\b(band\(s\)|bands?|episode) ([\d+]+)")  # kept: which band, which episode
_LETTERS = str.maketrans("0123456789", "abcdefghij")
_FIGURES = re.compile(r"[-+]?\d[\d.,]*%?")
