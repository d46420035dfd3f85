"""The Runner's state and how it is built from guard.yaml: store, account runtimes, GuardService,
lease manager, the config's audit events. A bad config raises ConfigError naming each problem."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from guard.core.audit import AuditEvent, EventKind
from guard.core.policy.schema import PolicySet
from guard.core.yaml_model import ConfigError, Problem
from guard.gateway.base import Gateway
from guard.gateway.paper.wallclock import WallClockPaper
from guard.service.assembly import (
    build_paper,
    ccxt_gateway,
    gateway_for,
    notifier_for,
    rail_settings,
    wall_clock,
)
from guard.service.config import AccountConfig, GuardConfig, SecretRef, load_config
from guard.service.db_thread import DatabaseThread
from guard.service.files import load_policies
from guard.service.heartbeat import Heartbeat
from guard.service.logs import logger
from guard.service.metrics import Health, Metrics
from guard.service.pause_file import PauseReader, pause_path
from guard.service.runtime import AccountRuntime
from guard.service.tick import GuardService
from guard.service.web import Extension, WebEndpoint
from guard.store import AccountInfo, Store
from guard.store.database import is_outage
from guard.store.journaled_store import JournaledStore
from guard.store.lease_keeper import LeaseManager, LeaseSettings

MIN_WRITE_WAIT = 0.25
MAX_WRITE_WAIT = 30.0


class RunnerBase:
    """One running service's state: configuration, store, runtimes, scheduler, endpoints, leases.
    What it does is in its parts; the whole is guard.service.runner.Runner."""

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
        bound = write_bound(self.config)
        # each worker keeps one connection for the tick's read and write (Database.kept) and
        # checks one out for its other calls; + the probe and housekeeping
        pool = max(5, 2 * database_workers(self.config, url) + 2)
        if journal is None:
            self.store = Store(url, write_timeout=bound, pool_size=pool)
        else:  # writes go to a local journal while the database is down (docs/reliability.md)
            where = journal if journal.is_absolute() else config_path.resolve().parent / journal
            journaled = JournaledStore(url, where, write_timeout=bound, pool_size=pool)
            for skipped in journaled.journal.recovery.messages():  # audited at the first flush
                logger(service="guard").warning("journal_bytes_skipped", detail=skipped)
            self.store = journaled
        self._check_schema()
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
            heartbeat=self.config.service.audit_heartbeat,
            pauses=PauseReader(pause_path(self.config, config_path), clock),
            db=DatabaseThread(
                hang_bound(self.config), self.store.interrupt, database_workers(self.config, url)
            ),
        )
        if self.store.problem is not None:  # started without the database: never green
            for name in runtimes:
                self.health.degrade(name, "database", self.store.problem)
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        self.endpoints: list[WebEndpoint] = []
        self.web_extensions: list[Extension] = []  # the operator's console adds its routes
        self.companions: list[Companion] = []  # started after the endpoints, stopped before
        console = self.config.service.console
        if console.heartbeat_url is not None:
            self.companions.append(
                Heartbeat(
                    _resolved(self.config, console.heartbeat_url),
                    console.heartbeat_every,
                    self.health,
                )
            )
        self.stop_event = asyncio.Event()
        self.stopping = False
        self.inflight = 0
        self.known_locks: set[int] = set()
        self.anchored_at: datetime | None = None  # the last anchor housekeeping wrote
        self._background: set[asyncio.Task[Any]] = set()
        self.log = logger(service="guard")
        self.leases = self._lease_manager()
        self.ticking: set[str] = set()  # accounts whose tick is running now
        self.taken_over: set[str] = set()  # leases acquired whose intents are not yet resolved
        self.beats = 0
        self.leases_unconfirmed = False  # the last heartbeat failed on an outage, journal on

    def _check_schema(self) -> None:
        """The schema at the head revision. Database unreachable, with a journal and no leases:
        start from what the journaled store knew (its known file and the journal) and check the
        schema once the database answers, before the journal's flush (docs/reliability.md)."""
        check = (
            self.store.create_schema
            if self.config.service.create_schema
            else self.store.require_migrated
        )
        try:
            check()
        except Exception as error:
            store = self.store
            if (
                not is_outage(error)
                or not isinstance(store, JournaledStore)
                or self.config.service.leases.enabled  # who holds which lease is unknown
                or not store.start_without_database(error, check)
            ):
                raise
            logger(service="guard").warning(
                "started_without_database",
                problem=store.problem,
                known=str(store.known_file),
                pending_entries=len(store.journal.pending()),
            )

    def _runtimes(self, config: GuardConfig) -> dict[str, AccountRuntime]:
        runtimes: dict[str, AccountRuntime] = {}
        problems: list[Problem] = []
        # one gateway per venue and base URL (a lab-backed account never shares a real one's)
        venues: dict[tuple[str, str | None], list[AccountConfig]] = {}
        for account in config.accounts:
            if not account.is_paper:
                venues.setdefault((account.venue, account.base_url), []).append(account)
        gateways: dict[tuple[str, str | None], Gateway] = {}
        for (venue, base_url), accounts in venues.items():
            gateways[(venue, base_url)] = ccxt_gateway(venue, accounts, base_url, self.clock)
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

                    gateway = gateways[(account.venue, account.base_url)]
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
                    self.service.accounts[a.name].disabled_reason,
                )
                for a in self.config.accounts
            ],
            self.clock(),
        )

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

    def request_stop(self) -> None:
        self.stop_event.set()


class Companion(Protocol):
    """Something that runs beside the ticks (chat console, heartbeat): started, then stopped."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def _resolved(config: GuardConfig, value: str | SecretRef) -> str:
    if isinstance(value, str):
        return value
    try:
        return value.resolve()
    except ValueError as error:
        where = ("service", "console", "heartbeat_url")
        raise ConfigError([config.problem(where, str(error))]) from None


def write_bound(config: GuardConfig) -> float:
    """How long a database write may wait for another writer (SQLite's lock held by a backup or
    an operator's session) before the tick protects from the journal instead: a quarter of the
    shortest poll interval, at least 0.25 s and at most 30 s."""
    shortest = min((a.poll_interval.total_seconds() for a in config.accounts), default=30.0)
    return min(max(shortest / 4, MIN_WRITE_WAIT), MAX_WRITE_WAIT)


def database_workers(config: GuardConfig, url: str) -> int:
    """The service's database workers: `service.database_workers` on PostgreSQL, with or
    without a journal (the journaled store runs its calls side by side only while the database
    answers, and one at a time on the journal: guard.store.journal_flush); 1 on SQLite (one
    writer at a time)."""
    if url.startswith("sqlite"):
        return 1
    return config.service.database_workers


def hang_bound(config: GuardConfig) -> float:
    """How long one store call may hang on an unanswering PostgreSQL server before its
    connections are cut and the tick goes on from the journal: a quarter of the shortest poll
    interval, at least 0.5 s (a slow but answering server is not an outage)."""
    shortest = min(a.poll_interval for a in config.accounts).total_seconds()
    return max(0.5, shortest / 4)
