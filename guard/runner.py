"""`guard run`: builds the service from guard.yaml and runs it unattended — one APScheduler job per
account (max_instances=1, coalesce, bounded misfire grace), a housekeeping job (lock expiry,
operator requests), graceful SIGTERM/SIGINT (in-flight ticks finish and are recorded) and SIGHUP
reloads that keep the last good configuration on error."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from guard.audit import AuditEvent, EventKind
from guard.config import ConfigError, Problem, load_policies
from guard.gateway.base import Gateway
from guard.gateway.dryrun import DryRunGateway
from guard.gateway.paper import (
    WallClockPaper,
    load_paper_file,
    restore_paper_state,
    shifted_path,
)
from guard.logs import logger
from guard.metrics import Endpoint, Health, Metrics
from guard.notify import AlertKind, Notifier
from guard.rails import BreakerLimits, SanityBounds
from guard.scenarios import scenario as load_scenario
from guard.service import AccountRuntime, GuardService, RailSettings
from guard.service_config import AccountConfig, GuardConfig, load_config
from guard.store import AccountInfo, Store


def wall_clock() -> datetime:
    return datetime.now(UTC)


def gateway_for(base: Gateway, dry_run: bool) -> Gateway:
    """`base`, or in dry-run `base` wrapped so that no write can ever reach the venue."""
    return cast(Gateway, DryRunGateway(base)) if dry_run else base


def build_paper(account: AccountConfig, now: datetime) -> WallClockPaper:
    """The account's scenario replayed so that its start (plus `start`) is `now`, or resumed
    from its state file when one exists."""
    try:
        chosen = load_scenario(account.scenario, account.seed)
    except KeyError as error:
        raise ValueError(str(error).strip("'\"")) from None
    saved = load_paper_file(account.state_file) if account.state_file is not None else None
    origin = datetime.fromisoformat(saved["origin"]) if saved else now
    delta = origin - (chosen.start + account.start)
    moved = replace(
        chosen,
        path=shifted_path(chosen.path, delta),
        funding={s: tuple((t + delta, r) for t, r in v) for s, v in chosen.funding.items()},
    )
    venue = moved.venue((account.name,))
    end = moved.end if account.until is None else min(moved.end, moved.start + account.until)
    received: list[str] = []
    if saved:
        restore_paper_state(venue, saved["venue"])
        received = list(saved["received"])
    else:
        venue.advance_to(origin)
    driver = WallClockPaper(
        venue,
        speed=account.speed,
        end=end,
        origin=origin,
        state_file=account.state_file,
        latency=account.latency,
        received=received,
    )
    driver.save()
    return driver


def rail_settings(config: GuardConfig) -> RailSettings:
    service = config.service
    b = service.breakers
    return RailSettings(
        staleness=service.staleness,
        breakers=BreakerLimits(
            b.window,
            b.max_orders_per_account,
            b.max_notional_per_account,
            b.max_orders_global,
            b.max_notional_global,
        ),
        sanity=SanityBounds(service.sanity.position_jump, service.sanity.equity_jump),
    )


def notifier_for(config: GuardConfig) -> Notifier:
    alerts = config.service.alerts
    urls = [url if isinstance(url, str) else url.resolve() for url in alerts.urls]
    return Notifier(urls, alerts.dedup.total_seconds(), alerts.max_per_minute)


class Runner:
    """One running service: configuration, store, runtimes, scheduler, endpoints."""

    def __init__(
        self,
        config_path: Path,
        *,
        dry_run: bool = False,
        clock: Callable[[], datetime] = wall_clock,
        install_signals: bool = True,
    ) -> None:
        self.config_path = config_path
        self.force_dry_run = dry_run
        self.clock = clock
        self.install_signals = install_signals
        self.config = load_config(config_path)
        url = self.config.service.database()
        if url.startswith("sqlite:///") and not url.endswith(":memory:"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.store = Store(url)
        if self.config.service.create_schema:
            self.store.create_schema()
        else:
            self.store.require_migrated()
        self.health = Health()
        self.metrics = Metrics(self.health)
        self.base_gateways: dict[str, Gateway] = {}
        self.papers: dict[str, WallClockPaper] = {}
        runtimes = self._runtimes(self.config)
        self.service = GuardService(
            store=self.store,
            accounts=runtimes,
            clock=clock,
            rails=rail_settings(self.config),
            notifier=notifier_for(self.config),
            health=self.health,
            metrics=self.metrics,
        )
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        self.endpoints: list[Endpoint] = []
        self.stop_event = asyncio.Event()
        self.stopping = False
        self.inflight = 0
        self.known_locks: set[int] = set()
        self._background: set[asyncio.Task[Any]] = set()
        self.log = logger(service="guard")

    # ----- building ---------------------------------------------------------------------------
    def _runtimes(self, config: GuardConfig) -> dict[str, AccountRuntime]:
        runtimes: dict[str, AccountRuntime] = {}
        problems: list[Problem] = []
        venues: dict[str, list[AccountConfig]] = {}
        for account in config.accounts:
            if not account.is_paper:
                venues.setdefault(account.venue, []).append(account)
        gateways: dict[str, Gateway] = {}
        for venue, accounts in venues.items():
            gateways[venue] = _ccxt_gateway(venue, accounts)
        for index, account in enumerate(config.accounts):
            policies = load_policies(account.policies)
            try:
                if account.is_paper:
                    driver = build_paper(account, self.clock())
                    self.papers[account.name] = driver
                    gateway: Gateway = driver
                    rules = driver.rules
                    clock: Callable[[], datetime] | None = driver.now
                else:
                    from guard.venues.registry import rules_for

                    gateway = gateways[account.venue]
                    rules = rules_for(account.venue)
                    clock = None
            except (ValueError, OSError) as error:
                problems.append(
                    Problem(str(self.config_path), None, f"accounts[{index}]", str(error))
                )
                continue
            self.base_gateways[account.name] = gateway
            dry = account.dry_run or self.force_dry_run
            runtimes[account.name] = AccountRuntime(
                account.name,
                rules,
                gateway_for(gateway, dry),
                policies,
                dry_run=dry,
                clock=clock,
                poll_interval=account.poll_interval,
            )
            self.health.intervals[account.name] = account.poll_interval.total_seconds()
        if problems:
            raise ConfigError(problems)
        return runtimes

    def _audit(self, kind: EventKind, message: str, **fields: Any) -> None:
        self.store.audit([AuditEvent(kind, message, actor="guard", **fields)], self.clock())

    def _config_events(self) -> None:
        config_fp = self.config.fingerprint()
        for account in self.config.accounts:
            runtime = self.service.accounts[account.name]
            self._audit(
                EventKind.CONFIG_LOADED,
                f"config {self.config_path} loaded for {account.name}: venue {account.venue}, "
                f"{len(runtime.policies.rules)} rule(s), poll {account.poll_interval}, "
                f"dry-run {runtime.dry_run}",
                account=account.name,
                fingerprint=runtime.policies.fingerprint,
                payload={
                    "config": str(self.config_path),
                    "config_fingerprint": config_fp,
                    "policies": [str(p) for p in account.policies],
                    "dry_run": runtime.dry_run,
                },
            )
        self.store.register_accounts(
            [
                AccountInfo(
                    a.name,
                    a.venue,
                    self.service.accounts[a.name].dry_run,
                    Decimal(str(a.poll_interval.total_seconds())),
                )
                for a in self.config.accounts
            ],
            self.clock(),
        )

    # ----- running ----------------------------------------------------------------------------
    async def run(self) -> int:
        service = self.config.service
        for port in sorted({p for p in (service.metrics_port, service.health_port) if p}):
            try:
                self.endpoints.append(Endpoint(self.metrics, port))
            except OSError as error:  # the guard keeps guarding without its endpoint
                self.log.error("endpoint_failed", port=port, error=str(error))
                self.health.degrade("service", f"port:{port}", f"port {port}: {error}")
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
        await self.service.reconcile()
        await self.housekeeping()
        for name in names:
            self._schedule(name)
        self.scheduler.add_job(
            self.housekeeping,
            "interval",
            seconds=service.housekeeping.total_seconds(),
            id="housekeeping",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=int(service.misfire_grace.total_seconds()) or 1,
        )
        if self.install_signals:
            self._signals()
        self.scheduler.start()
        try:
            await self.stop_event.wait()
        finally:
            await self.shutdown()
        return 0

    def _schedule(self, name: str) -> None:
        runtime = self.service.accounts[name]
        self.scheduler.add_job(
            self._job,
            "interval",
            args=[name],
            seconds=runtime.poll_interval.total_seconds(),
            id=f"tick:{name}",
            next_run_time=datetime.now(UTC),
            max_instances=1,
            coalesce=True,
            misfire_grace_time=int(self.config.service.misfire_grace.total_seconds()) or 1,
            replace_existing=True,
        )

    async def _job(self, name: str) -> None:
        if self.stopping or name not in self.service.accounts:
            return
        self.inflight += 1
        try:
            await self.service.tick(name)
        finally:
            self.inflight -= 1
        if self.config.service.stop_when_scenarios_end and self._scenarios_over():
            self.request_stop()

    def _scenarios_over(self) -> bool:
        accounts = self.service.accounts
        return (
            bool(self.papers)
            and len(self.papers) == len(accounts)
            and all(paper.ended for paper in self.papers.values())
        )

    async def housekeeping(self) -> None:
        """Expire locks (audited once), announce new locks, flag accounts with operator requests."""
        now = self.clock()
        try:
            for lock in self.store.expire_locks(now):
                await self.service.notifier.alert(
                    AlertKind.LOCK, f"expired:{lock.id}", "lock expired", lock.describe()
                )
            active = self.store.locks(now)
            for lock in active:
                if lock.id not in self.known_locks:
                    await self.service.notifier.alert(
                        AlertKind.LOCK, f"set:{lock.id}", "lock set", lock.describe()
                    )
            self.known_locks = {lock.id for lock in active}
            for request in self.store.pending_requests():
                runtime = self.service.accounts.get(request.account)
                if runtime is not None:
                    runtime.requests_waiting = True
        except Exception as error:  # the database may be briefly down: try again next time
            self.log.error("housekeeping_failed", error=f"{type(error).__name__}: {error}")

    def request_stop(self) -> None:
        self.stop_event.set()

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
        self.service.notifier = notifier
        self._config_events()
        if self.scheduler.running:
            for name in accounts:
                self._schedule(name)
        self.log.info("config_reloaded", accounts=sorted(accounts))
        return True

    async def shutdown(self) -> None:
        """Stop new ticks, let in-flight ones finish (bounded), record the stop, close."""
        self.stopping = True
        if self.scheduler.running:
            self.scheduler.pause()
        deadline = asyncio.get_running_loop().time() + (
            self.config.service.shutdown_grace.total_seconds()
        )
        while self.inflight and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        left = f" ({self.inflight} tick(s) still running at the deadline)" if self.inflight else ""
        self._audit(EventKind.SERVICE_STOP, f"guard service stopped{left}")
        self.log.info("service_stop", inflight=self.inflight)
        await self.service.notifier.alert(AlertKind.SERVICE, "stop", "stopped", f"stopped{left}")
        for gateway in {id(g): g for g in self.base_gateways.values()}.values():
            try:
                await gateway.close()
            except Exception as error:  # closing is best effort
                self.log.warning("close_failed", error=str(error))
        for endpoint in self.endpoints:
            endpoint.close()
        self.store.dispose()


def _ccxt_gateway(venue: str, accounts: list[AccountConfig]) -> Gateway:
    from guard.gateway.ccxt import AccountConfig, CcxtGateway, Credentials

    configs = [
        AccountConfig(
            a.name,
            venue,
            Credentials(
                env={k: ref.env for k, ref in a.credentials.items() if ref.env is not None},
                files={
                    k: str(ref.file) for k, ref in a.credentials.items() if ref.file is not None
                },
            ),
        )
        for a in accounts
    ]
    return CcxtGateway(venue, configs)


async def run_service(config_path: Path, *, dry_run: bool = False) -> int:
    """Build and run the service until SIGTERM/SIGINT (or every paper scenario ended)."""
    runner = Runner(config_path, dry_run=dry_run)
    return await runner.run()
