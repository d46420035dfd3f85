"""`guard run`: builds the service from guard.yaml and runs it unattended — one APScheduler job per
account (max_instances=1, coalesce, bounded misfire grace), a housekeeping job (lock expiry,
operator requests), graceful SIGTERM/SIGINT (in-flight ticks finish and are recorded) and SIGHUP
reloads that keep the last good configuration on error."""

from __future__ import annotations

import asyncio
import signal
import zlib
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from guard.core.audit import AuditEvent, EventKind
from guard.core.policy.schema import PolicySet
from guard.core.rails import BreakerLimits, SanityBounds
from guard.core.yaml_model import ConfigError, Problem
from guard.gateway.base import Gateway
from guard.gateway.dryrun import DryRunGateway
from guard.gateway.paper.path import IndexedPricePath, shifted_path
from guard.gateway.paper.scenarios import scenario as load_scenario
from guard.gateway.paper.state import restore_paper_state
from guard.gateway.paper.wallclock import WallClockPaper, load_paper_file
from guard.service.config import AccountConfig, GuardConfig, load_config
from guard.service.files import load_policies
from guard.service.logs import logger
from guard.service.metrics import Endpoint, Health, Metrics
from guard.service.notify import AlertKind, Notifier
from guard.service.tick import AccountRuntime, GuardService, RailSettings
from guard.store import AccountInfo, Store
from guard.store.journaled_store import JournaledStore
from guard.store.lease_keeper import LeaseManager, LeaseSettings


def wall_clock() -> datetime:
    return datetime.now(UTC)


def phase_offset(name: str, interval: timedelta) -> timedelta:
    """A stable offset in [0, interval) from the account name: accounts polled at the same
    interval are spread over it instead of all ticking at the same instant (no thundering herd
    on the event loop, the database or the venue's rate limits)."""
    return interval * (zlib.crc32(name.encode()) / 2**32)


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
        path=IndexedPricePath.of(shifted_path(chosen.path, delta)),  # O(log n) price look-ups
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
        journal = self.config.service.journal
        if journal is None:
            self.store = Store(url)
        else:  # writes go to a local journal while the database is down (docs/reliability.md)
            where = journal if journal.is_absolute() else config_path.resolve().parent / journal
            self.store = JournaledStore(url, where)
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
        self.leases = self._lease_manager()
        self.ticking: set[str] = set()  # accounts whose tick is running now
        self.taken_over: set[str] = set()  # leases acquired whose intents are not yet resolved
        self.beats = 0

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
        parsed: dict[tuple[Path, ...], PolicySet] = {}  # many accounts share policy files
        for index, account in enumerate(config.accounts):
            policies = parsed.get(account.policies) or load_policies(account.policies)
            parsed[account.policies] = policies
            try:
                if account.is_paper:
                    driver = build_paper(account, self.clock())
                    self.papers[account.name] = driver
                    gateway: Gateway = driver
                    rules = driver.rules
                    clock: Callable[[], datetime] | None = driver.now
                else:
                    from guard.core.venues.registry import rules_for

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
        if self.leases is not None:  # a replica id already in use stops the start here
            self.leases.join(sorted(self.service.accounts), self.clock())
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
        if self.install_signals:
            self._signals()
        self.scheduler.start()
        try:
            await self.stop_event.wait()
        finally:
            await self.shutdown()
        return 0

    def _schedule(self, name: str, *, spread: bool = False) -> None:
        """Tick `name` every poll interval: at once, or (`spread`, for the whole set at start and
        on reload) after its phase offset, so the accounts do not all tick at one instant."""
        runtime = self.service.accounts[name]
        offset = phase_offset(name, runtime.poll_interval) if spread else timedelta(0)
        self.scheduler.add_job(
            self._job,
            "interval",
            args=[name],
            seconds=runtime.poll_interval.total_seconds(),
            id=f"tick:{name}",
            next_run_time=datetime.now(UTC) + offset,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=int(self.config.service.misfire_grace.total_seconds()) or 1,
            replace_existing=True,
        )

    async def _job(self, name: str) -> None:
        if self.stopping or name not in self.service.accounts:
            return
        fence = self.leases.fence(name) if self.leases is not None else None
        if self.leases is not None:
            if fence is None:  # not (or no longer surely) this replica's account
                return
            self.service.accounts[name].fence = fence
        started = self.clock()
        self.inflight += 1
        self.ticking.add(name)
        try:
            if name in self.taken_over:
                self.taken_over.discard(name)
                await self._resolve_taken_over(name)
            await self.service.tick(name)
        finally:
            self.inflight -= 1
            self.ticking.discard(name)
        if fence is not None and self.config.service.leases.record_ticks:
            self._record_tick(name, fence.token, started)
        if self.config.service.stop_when_scenarios_end and self._scenarios_over():
            self.request_stop()

    # ----- scale-out leases ---------------------------------------------------------------------
    def _lease_manager(self) -> LeaseManager | None:
        leases = self.config.service.leases
        if not leases.enabled:
            return None
        if self.store.is_sqlite:
            raise ConfigError(
                [
                    Problem(
                        str(self.config_path),
                        None,
                        "service.leases.enabled",
                        "leases share accounts between replicas on one PostgreSQL database; "
                        "this database is SQLite (one process): turn leases off or use PostgreSQL",
                    )
                ]
            )
        ttl, renew = leases.timings(min(a.poll_interval for a in self.config.accounts))
        try:
            settings = LeaseSettings(leases.replica(), ttl, renew, leases.slack)
        except ValueError as error:
            raise ConfigError(
                [Problem(str(self.config_path), None, "service.leases", str(error))]
            ) from None
        return LeaseManager(self.store, settings)

    async def _lease_beat(self) -> None:
        """Heartbeat: renew, rebalance and take over leases; schedule what is held, drop the rest."""
        leases = self.leases
        if leases is None or self.stopping:
            return
        try:
            beat = leases.beat(
                sorted(self.service.accounts),
                set(self.ticking),
                self.clock(),
                acquire=self.beats > 0,  # the first beat only announces: others see us alive
            )
        except Exception as error:  # the database is unreachable: stop once the leases lapse
            self.log.error("lease_heartbeat_failed", error=f"{type(error).__name__}: {error}")
            for name in leases.lapse():
                self._drop_lease(name)
            return
        self.beats += 1
        for name in (*beat.lost, *beat.released):
            self._drop_lease(name)
        for name in beat.acquired:
            runtime = self.service.accounts.get(name)
            if runtime is None:
                continue
            runtime.fence = beat.held[name]
            runtime.previous = None  # another replica ticked it meanwhile: no sanity baseline
            runtime.own_fills = {}
            runtime.requests_waiting = True
            self.taken_over.add(name)
            self.health.intervals[name] = runtime.poll_interval.total_seconds()
            self._schedule(name)
            # first ticks spread over a quarter interval: a bulk takeover is not one burst that
            # blocks the loop (and this heartbeat) for every later period
            first = phase_offset(name, runtime.poll_interval / 4)
            self.scheduler.modify_job(f"tick:{name}", next_run_time=datetime.now(UTC) + first)
        if beat.acquired or beat.released or beat.lost:
            self.log.info(
                "leases",
                replica=leases.replica,
                held=len(beat.held),
                acquired=len(beat.acquired),
                released=len(beat.released),
                lost=len(beat.lost),
                alive=beat.alive,
                share=beat.share,
            )

    def _drop_lease(self, name: str) -> None:
        """Stop ticking `name` (a running tick finishes; its writes are fenced off)."""
        if self.scheduler.get_job(f"tick:{name}") is not None:
            self.scheduler.remove_job(f"tick:{name}")
        self.taken_over.discard(name)
        self.health.intervals.pop(name, None)
        self.health.last_success.pop(name, None)
        self.health.reasons.pop(name, None)

    async def _resolve_taken_over(self, name: str) -> None:
        """Before the first tick under a new lease: resolve what the previous holder left."""
        runtime = self.service.accounts[name]
        try:
            await self.service.resolve(runtime, startup=True)
        except Exception as error:  # venue or database down: the tick's own resolve retries
            self._audit(
                EventKind.ERROR,
                f"reconciliation after taking over {name} failed: {type(error).__name__}: {error}",
                account=name,
            )

    def _record_tick(self, name: str, token: int, started: datetime) -> None:
        assert self.leases is not None
        try:
            self.leases.record_tick(name, token, started, self.clock())
        except Exception as error:  # a log row, never a reason to fail the tick
            self.log.error("lease_tick_log_failed", error=f"{type(error).__name__}: {error}")

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
            leases = self.config.service.leases
            if self.leases is not None and leases.record_ticks:
                self.leases.prune_ticks(now - leases.tick_retention)
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
                if self.leases is None or name in self.leases.held:
                    self._schedule(name, spread=True)
            if self.leases is not None:
                for name in accounts:
                    if name not in self.leases.held:
                        self.health.intervals.pop(name, None)
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
