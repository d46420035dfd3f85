"""Scheduled reports: the funding, stress and shadow reports of every account this process guards,
on the crontab lines of service.reports, sent through the alert channels. Reads only; a failure
is logged and the next account is tried, never raised into the scheduler."""

from __future__ import annotations

from apscheduler.triggers.cron import CronTrigger

from guard.core.reports.render import as_lines
from guard.service.notify import AlertKind
from guard.service.reports import build_report, headline, tables
from guard.service.runner_base import RunnerBase


class Reporting(RunnerBase):
    """The Runner's report jobs (see guard.service.runner)."""

    def schedule_reports(self) -> None:
        """One job per report with a crontab line (again on reload: changed lines replace)."""
        reports = self.config.service.reports
        for kind, line in (
            ("funding", reports.funding),
            ("stress", reports.stress),
            ("shadow", reports.shadow),
        ):
            if line is None:
                if self.scheduler.get_job(f"report-{kind}") is not None:
                    self.scheduler.remove_job(f"report-{kind}")  # turned off by a reload
                continue
            self.scheduler.add_job(
                self.send_reports,
                CronTrigger.from_crontab(line, timezone="UTC"),
                args=[kind],
                id=f"report-{kind}",
                replace_existing=True,  # a reload reschedules
                max_instances=1,
                coalesce=True,
                misfire_grace_time=int(self.config.service.misfire_grace.total_seconds()) or 1,
            )

    async def send_reports(self, kind: str) -> int:
        """Send the `kind` report of each account ticked here (shadow: dry-run ones); how many."""
        sent = 0
        stamp = self.clock().strftime("%Y%m%dT%H%M")
        for name, runtime in sorted(self.service.accounts.items()):
            if runtime.disabled_reason is not None or (kind == "shadow" and not runtime.dry_run):
                continue
            if self.leases is not None and self.leases.fence(name) is None:
                continue  # another replica guards it and reports it
            try:
                report = await build_report(
                    kind,
                    account=name,
                    gateway=runtime.gateway,
                    rules=runtime.rules,
                    policies=runtime.policies,
                    store=self.store,
                    since=None,
                    dry_run=runtime.dry_run,
                )
            except Exception as error:  # a report must never disturb the guard
                self.log.error(
                    "report_failed",
                    account=name,
                    report=kind,
                    error=f"{type(error).__name__}: {error}",
                )
                continue
            await self.service.notifier.alert(
                AlertKind.REPORT,
                f"{kind}:{name}:{stamp}",
                headline(report),
                as_lines(tables(report)),
            )
            sent += 1
        self.log.info("reports_sent", report=kind, accounts=sent)
        return sent
