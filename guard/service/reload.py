"""Signals and reload: SIGTERM/SIGINT stop gracefully, SIGHUP re-reads the config and policies;
a reload that fails keeps the last good configuration, audits and alerts."""

from __future__ import annotations

import asyncio
import signal

from guard.core.audit import EventKind
from guard.core.yaml_model import ConfigError
from guard.service.assembly import gateway_for, notifier_for, rail_settings
from guard.service.config import load_config
from guard.service.files import load_policies
from guard.service.notify import AlertKind
from guard.service.report_jobs import Reporting
from guard.service.tick_jobs import TickJobs


class Reloading(TickJobs, Reporting):
    """The Runner's signals and config reload (see guard.service.runner)."""

    def _signals(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.request_stop)
        loop.add_signal_handler(signal.SIGINT, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, self._reload_soon)

    def _reload_soon(self) -> None:
        task = asyncio.ensure_future(self.reload())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def reload(self) -> bool:
        """Re-read the config and policies; on any error keep the last good set and alert."""
        try:
            config = load_config(self.config_path)
            policies = {a.name: load_policies(a.policies) for a in config.accounts}
            added = [a for a in config.accounts if a.name not in self.service.accounts]
            fresh = self._runtimes(config.model_copy(update={"accounts": tuple(added)}))
            notifier = notifier_for(config)
        except (ConfigError, ValueError, OSError) as error:
            message = f"reload of {self.config_path} failed, keeping the last good config: {error}"
            self._audit(EventKind.ERROR, message)
            self.log.error("reload_failed", error=str(error))
            await self.service.notifier.alert(AlertKind.CONFIG, "reload", "reload failed", message)
            return False
        accounts = dict(self.service.accounts)
        for account in config.accounts:
            runtime = accounts.get(account.name)
            if runtime is None:
                accounts[account.name] = fresh[account.name]
                continue
            dry = account.dry_run or self.force_dry_run
            base = self.base_gateways[account.name]
            runtime.policies = policies[account.name]
            runtime.dry_run = dry
            runtime.gateway = gateway_for(base, dry)
            runtime.poll_interval = account.poll_interval
            self.health.intervals[account.name] = account.poll_interval.total_seconds()
        kept = {a.name for a in config.accounts}
        for name in [n for n in accounts if n not in kept]:
            del accounts[name]
            self.papers.pop(name, None)
            self.health.intervals.pop(name, None)
            if self.scheduler.get_job(f"tick:{name}") is not None:
                self.scheduler.remove_job(f"tick:{name}")
        self.config = config
        self.service.accounts = accounts
        self.service.rails = rail_settings(config)
        notifier.listeners = self.service.notifier.listeners  # the chat console stays subscribed
        self.service.notifier = notifier
        self._config_events()
        if self.scheduler.running:
            self.schedule_reports()
            for name in accounts:
                if self.leases is None or name in self.leases.held:
                    self._schedule(name, spread=True)
            if self.leases is not None:
                for name in accounts:
                    if name not in self.leases.held:
                        self.health.intervals.pop(name, None)
        self.log.info("config_reloaded", accounts=sorted(accounts))
        return True
