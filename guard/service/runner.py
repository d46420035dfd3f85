"""`guard run`: the Runner runs the service unattended — start (audit, reconcile, schedule the tick,
lease and housekeeping jobs) and graceful shutdown (in-flight ticks finish and are recorded)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from guard.core.audit import EventKind
from guard.service.housekeeping import Housekeeping
from guard.service.lease_beat import LeaseBeat
from guard.service.notify import AlertKind
from guard.service.reload import Reloading
from guard.service.web import WebEndpoint

LAG_PROBE_SECONDS = 0.25


class Runner(LeaseBeat, Reloading, Housekeeping):
    """One running service: configuration, store, runtimes, scheduler, endpoints. Its state is
    built in guard.service.runner_base.RunnerBase, its parts in the modules it inherits from."""

    async def open_endpoints(self) -> None:
        """/health, /metrics and the console's routes on one server: the metrics and health
        ports bound to `metrics_host`, the console port to `console.host` (loopback unless
        configured); a port that cannot be bound degrades health but never stops the guard."""
        service = self.config.service
        console = service.console
        endpoint = WebEndpoint(
            self.metrics,
            store=self.store,
            metrics_need_token=console.metrics_need_token,
            extensions=list(self.web_extensions),
        )
        sites = [
            (service.metrics_host, p) for p in {service.metrics_port, service.health_port} if p
        ]
        if console.port is not None:
            sites.append((console.host, console.port))
        sites = sorted({(h, p) for h, p in sites if p is not None}, key=lambda s: s[1])
        if not sites:
            return
        await endpoint.start()
        self.endpoints.append(endpoint)
        for host, port in sites:
            try:
                await endpoint.serve(port, host)
            except OSError as error:  # the guard keeps guarding without its endpoint
                self.log.error("endpoint_failed", port=port, error=str(error))
                self.health.degrade("service", f"port:{port}", f"port {port}: {error}")

    async def run(self) -> int:
        service = self.config.service
        if self.leases is not None:  # a replica id already in use stops the start here
            self.leases.join(sorted(self.service.accounts), self.clock())
        await self.open_endpoints()
        for companion in self.companions:
            await companion.start()
        names = sorted(self.service.accounts)
        self._audit(
            EventKind.SERVICE_START,
            f"guard service started: {len(names)} account(s): {', '.join(names)}",
            fingerprint=self.config.fingerprint(),
            payload={"config": str(self.config_path), "dry_run": self.force_dry_run},
        )
        self._config_events()
        self.log.info("service_start", accounts=names, config=str(self.config_path))
        await self.service.notifier.alert(
            AlertKind.SERVICE, "start", "started", f"guarding {', '.join(names)}"
        )
        if self.leases is None:
            await self.service.reconcile()
        await self.housekeeping()
        if self.leases is None:
            for name in names:
                self._schedule(name, spread=True)
        else:  # scale-out: tick only the accounts whose lease this replica holds
            self.health.intervals.clear()
            self.scheduler.add_job(
                self._lease_beat,
                "interval",
                seconds=self.leases.settings.renew.total_seconds(),
                id="leases",
                next_run_time=datetime.now(UTC),
                max_instances=1,
                coalesce=True,
                misfire_grace_time=int(service.misfire_grace.total_seconds()) or 1,
            )
        self.scheduler.add_job(
            self.housekeeping,
            "interval",
            seconds=service.housekeeping.total_seconds(),
            id="housekeeping",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=int(service.misfire_grace.total_seconds()) or 1,
        )
        self.schedule_reports()
        if self.install_signals:
            self._signals()
        self.scheduler.start()
        await self.start_streams()  # accounts with `streams: true` (docs/streams.md)
        lag = asyncio.create_task(self._measure_loop_lag())
        try:
            await self.stop_event.wait()
        finally:
            lag.cancel()
            await self.shutdown()
        return 0

    async def _measure_loop_lag(self) -> None:
        """Observe how late the loop wakes from a short sleep (the loop-lag metric)."""
        loop = asyncio.get_running_loop()
        while True:
            began = loop.time()
            await asyncio.sleep(LAG_PROBE_SECONDS)
            self.metrics.loop_lag.observe(max(0.0, loop.time() - began - LAG_PROBE_SECONDS))

    async def shutdown(self) -> None:
        """Stop new ticks, let in-flight ones finish (bounded), record the stop, close."""
        self.stopping = True
        if self.scheduler.running:
            self.scheduler.pause()
        await self.stop_streams()  # no more wake-ups; a woken tick in flight is waited for below
        deadline = asyncio.get_running_loop().time() + (
            self.config.service.shutdown_grace.total_seconds()
        )
        while self.inflight and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        left = f" ({self.inflight} tick(s) still running at the deadline)" if self.inflight else ""
        if self.leases is not None and self.leases.joined:
            try:  # hand the accounts over now rather than after the lease ttl
                self.leases.leave(self.clock())
            except Exception as error:  # the leases then simply expire
                self.log.error("lease_release_failed", error=f"{type(error).__name__}: {error}")
        self._audit(EventKind.SERVICE_STOP, f"guard service stopped{left}")
        self.log.info("service_stop", inflight=self.inflight)
        await self.service.notifier.alert(AlertKind.SERVICE, "stop", "stopped", f"stopped{left}")
        for gateway in {id(g): g for g in self.base_gateways.values()}.values():
            try:
                await gateway.close()
            except Exception as error:  # closing is best effort
                self.log.warning("close_failed", error=str(error))
        for companion in self.companions:
            try:
                await companion.stop()
            except Exception as error:  # stopping is best effort
                self.log.warning("companion_stop_failed", error=str(error))
        for endpoint in self.endpoints:
            await endpoint.close()
        self.service.db.close()
        self.store.dispose()


async def run_service(config_path: Path, *, dry_run: bool = False) -> int:
    """Build and run the service until SIGTERM/SIGINT (or every paper scenario ended)."""
    runner = Runner(config_path, dry_run=dry_run)
    return await runner.run()
