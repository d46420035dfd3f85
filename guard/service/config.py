"""The guard.yaml schema of `guard run`: accounts (venue, credentials references, policy files,
poll interval, dry-run) and service settings (database, rails, alerts, ports). Frozen and strict;
secrets are never written in the file, only references to environment variables or files."""

from __future__ import annotations

import hashlib
import json
import os
import socket
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from guard.core.policy.units import Duration, Money, Percent
from guard.core.yaml_model import (
    ConfigError,
    Node,
    Problem,
    field_of,
    line_of,
    parse_yaml,
    validate_data,
)
from guard.service.files import read_config_text

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,119}$"


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be a positive duration (e.g. '5s', '2m'), not zero or negative")
    return value


PositiveDuration = Annotated[Duration, AfterValidator(_positive)]


class Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SecretRef(Strict):
    """Where a secret lives: an environment variable or a file (e.g. a docker secret)."""

    env: str | None = None
    file: Path | None = None

    @model_validator(mode="after")
    def _one_source(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("name exactly one of `env: VARIABLE` or `file: /path/to/secret`")
        return self

    def describe(self) -> str:
        return f"environment variable {self.env}" if self.env else f"file {self.file}"

    def resolve(self) -> str:
        """The secret's value; a clear error names the missing variable or file."""
        if self.env is not None:
            value = os.environ.get(self.env)
            if not value:
                raise ValueError(f"environment variable {self.env} is not set or empty")
            return value
        assert self.file is not None
        try:
            return self.file.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise ValueError(f"cannot read secret file {self.file}: {error.strerror}") from error


class Breakers(Strict):
    """Circuit breakers: automatic action stops (and alerts) when a window's total would pass."""

    window: PositiveDuration = timedelta(hours=1)
    max_orders_per_account: int = Field(default=20, ge=1)
    max_notional_per_account: Money = Decimal(1_000_000)
    max_orders_global: int = Field(default=60, ge=1)
    max_notional_global: Money = Decimal(3_000_000)


class Sanity(Strict):
    """Jumps between two ticks beyond these bounds hold the guard (unless our fills explain them)."""

    position_jump: Percent = Decimal("0.5")
    equity_jump: Percent = Decimal("0.5")


class Alerts(Strict):
    """Apprise URLs (literal, or references when they embed tokens), deduplication, rate limit."""

    urls: tuple[str | SecretRef, ...] = ()
    dedup: Duration = timedelta(minutes=10)
    max_per_minute: int = Field(default=20, ge=1)


def _crontab(value: str | None) -> str | None:
    if value is not None:
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(value, timezone="UTC")
        except ValueError as error:
            raise ValueError(f"not a crontab line like '0 8 * * mon' ({error})") from None
    return value


class Reports(Strict):
    """Reports sent through the alert channels, as crontab lines in UTC; null turns one off."""

    funding: Annotated[str | None, AfterValidator(_crontab)] = "0 8 * * *"  # daily, 08:00
    stress: Annotated[str | None, AfterValidator(_crontab)] = "0 8 * * mon"  # weekly, Monday
    shadow: Annotated[str | None, AfterValidator(_crontab)] = None  # dry-run accounts only


class Leases(Strict):
    """Scale-out: several replicas on one PostgreSQL share the accounts through leases.

    Off by default (one process guards every account). `ttl` defaults to three quarters of
    the shortest poll interval (at least 1 s) and `renew` to a quarter of the ttl, so a dead
    replica's accounts are due again on the survivors within ttl + renew + a quarter interval
    (first ticks are spread over it): 1.19 poll intervals, under the bound of two."""

    enabled: bool = False
    replica_id: Annotated[str, Field(pattern=NAME_PATTERN)] | None = None  # default host-pid
    ttl: Duration | None = None
    renew: Duration | None = None
    slack: int = Field(default=1, ge=0)  # leases a replica may hold above its fair share
    record_ticks: bool = False  # log each tick's replica and interval in lease_ticks
    tick_retention: PositiveDuration = timedelta(hours=1)  # how long that log is kept

    def replica(self) -> str:
        return self.replica_id or f"{socket.gethostname()}-{os.getpid()}"[:120]

    def timings(self, shortest_poll: timedelta) -> tuple[timedelta, timedelta]:
        """(ttl, renew) with the defaults filled in from the shortest poll interval."""
        ttl = self.ttl or max(shortest_poll * 3 / 4, timedelta(seconds=1))
        return ttl, self.renew or ttl / 4

    @model_validator(mode="after")
    def _renew_within_ttl(self) -> Leases:
        if self.ttl is not None and self.ttl <= timedelta(0):
            raise ValueError("ttl must be positive")
        if self.renew is not None and self.renew <= timedelta(0):
            raise ValueError("renew must be positive")
        if self.ttl is not None and self.renew is not None and self.renew * 2 > self.ttl:
            raise ValueError(
                f"renew ({self.renew}) must be at most half of ttl ({self.ttl}), "
                "or one late heartbeat loses every lease"
            )
        return self


class ChatAccess(Strict):
    """One allow-listed Telegram chat and what it may do."""

    id: int
    role: Literal["viewer", "operator"]  # viewer: status, positions; operator: also act


class Telegram(Strict):
    """Two-way chat over a Telegram bot: commands from allow-listed chats, alerts with buttons."""

    bot_token: SecretRef
    chats: tuple[ChatAccess, ...] = Field(min_length=1)
    api_url: str = "https://api.telegram.org"  # the Bot API server (a local one in tests)
    alerts: bool = True  # send every alert to the allow-listed chats (operators get buttons)
    poll_timeout: PositiveDuration = timedelta(seconds=10)  # long-poll wait of getUpdates


class Console(Strict):
    """The operator's console (HTTP API and web page) on the service's HTTP server: off unless
    a port is set; loopback unless `host` says otherwise (put TLS in front: docs in README)."""

    port: int | None = Field(default=None, ge=0, le=65535)
    host: str = Field(default="127.0.0.1", min_length=1)
    metrics_need_token: bool = False  # /metrics asks for a console token (any scope)
    # dead-man switch: GET this URL every `heartbeat_every` while /health is ok
    heartbeat_url: str | SecretRef | None = None
    heartbeat_every: PositiveDuration = timedelta(minutes=1)
    telegram: Telegram | None = None


class StreamOptions(Strict):
    """Stream wake-ups (accounts with `streams: true`): when a venue's stream counts as silent,
    how far a mark may move (a fraction of its distance to liquidation at the last full
    evaluation) before a full tick is woken, and the reconnect backoff's ceiling."""

    silence: PositiveDuration = timedelta(seconds=15)
    move_fraction: Annotated[Percent, Field(gt=0, le=1)] = Decimal("0.1")  # e.g. "10%"
    backoff_max: PositiveDuration = timedelta(seconds=30)


class ServiceSettings(Strict):
    database_url: str | SecretRef = SecretRef(env="GUARD_DATABASE_URL")
    create_schema: bool = False  # create missing tables directly (paper/dev runs only)
    staleness: PositiveDuration = timedelta(minutes=2)
    breakers: Breakers = Breakers()
    sanity: Sanity = Sanity()
    alerts: Alerts = Alerts()
    reports: Reports = Reports()  # scheduled funding / stress / shadow reports
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    health_port: int | None = Field(default=None, ge=0, le=65535)
    # the endpoints' bind address: loopback unless set (0.0.0.0 only inside a container)
    metrics_host: str = Field(default="127.0.0.1", min_length=1)
    housekeeping: PositiveDuration = timedelta(minutes=2)  # lock expiry and operator requests
    # a quiet evaluation that repeats the previous one is audited once per heartbeat
    audit_heartbeat: PositiveDuration = timedelta(minutes=5)
    # how often housekeeping anchors every audit chain's tip (an `anchor` event on @service)
    audit_anchor: PositiveDuration = timedelta(minutes=10)
    # a copy of every anchor outside the database, appended and fsynced (relative: to this file);
    # `guard audit verify --anchors FILE` compares it with the database
    audit_anchor_file: Path | None = None
    misfire_grace: PositiveDuration = timedelta(seconds=30)
    shutdown_grace: PositiveDuration = timedelta(seconds=30)
    stop_when_scenarios_end: bool = False  # paper only: exit once every scenario has ended
    console: Console = Console()  # the operator's console: HTTP API, web page
    leases: Leases = Leases()  # scale-out across replicas (PostgreSQL only)
    # local write-ahead journal used while the database is down (relative: to this file)
    journal: Path | None = None
    # database worker threads on PostgreSQL, with or without a journal (an account's calls stay
    # on one; on the journal the store runs one call at a time); SQLite: always 1
    database_workers: int = Field(default=8, ge=1, le=32)
    # the operator's pause file (`guard pause`), watched by the service; default: beside the
    # journal, else beside a SQLite database, else beside this file (docs/reliability.md)
    pause_file: Path | None = None
    streams: StreamOptions = StreamOptions()  # stream wake-ups (docs/streams.md)

    def database(self) -> str:
        return (
            self.database_url if isinstance(self.database_url, str) else self.database_url.resolve()
        )


VENUES = ("paper", "binance", "bybit", "okx", "hyperliquid", "dydx")
STREAM_VENUES = ("binance", "hyperliquid")  # the venues with a stream subscriber
PAPER_ONLY = ("scenario", "seed", "speed", "start", "until", "state_file", "latency")


class AccountConfig(Strict):
    """One guarded account. `venue: paper` is a simulated account playing a scenario in virtual
    time; any other venue is reached through ccxt with credentials given as references."""

    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    venue: Literal["paper", "binance", "bybit", "okx", "hyperliquid", "dydx"]
    policies: tuple[Path, ...] = Field(min_length=1)
    poll_interval: PositiveDuration = timedelta(seconds=15)
    dry_run: bool = False
    credentials: dict[str, SecretRef] = Field(default_factory=dict)  # ccxt field -> where
    # paper only
    scenario: str = "crash"  # a built-in name, a file in scenarios/, or a .yaml path
    seed: int = 7
    speed: Decimal = Field(default=Decimal(60), gt=0)  # virtual seconds per wall second
    start: Duration = timedelta(0)  # begin this far into the scenario
    until: Duration | None = None  # end this far into the scenario (default: its end)
    state_file: Path | None = None  # persist the venue here (restarts resume from it)
    latency: Duration = timedelta(0)  # simulated send latency (half before, half after fill)
    # venue accounts only: every API url of this account's ccxt client rewritten to this base
    # (the venue lab, `guard venue-lab`); loopback only unless allow_nonloopback_url is true
    base_url: str | None = None
    allow_nonloopback_url: bool = False
    # venue accounts on binance or hyperliquid: wake a full tick from the venue's streams
    # (polling stays the backstop and the truth; docs/streams.md). Off unless set.
    streams: bool = False

    @model_validator(mode="after")
    def _venue_fields(self) -> AccountConfig:
        if self.is_paper and self.credentials:
            raise ValueError("a paper account takes no credentials")
        if self.base_url is not None:
            if self.is_paper:
                raise ValueError("base_url: only for venue accounts, not `venue: paper`")
            problem = base_url_problem(self.base_url, self.allow_nonloopback_url)
            if problem:
                raise ValueError(f"base_url: {problem}")
        if self.streams and self.venue not in STREAM_VENUES:
            raise ValueError(
                f"streams: {self.venue} accounts are polled only; streams are subscribed on "
                f"{', '.join(STREAM_VENUES)} (docs/streams.md)"
            )
        if not self.is_paper:
            misplaced = sorted(set(PAPER_ONLY) & self.model_fields_set)
            if misplaced:
                raise ValueError(
                    f"{', '.join(misplaced)}: only for `venue: paper` accounts, not {self.venue}"
                )
        return self

    @property
    def is_paper(self) -> bool:
        return self.venue == "paper"


LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


def base_url_problem(url: str, allow_nonloopback: bool) -> str:
    """Why `url` cannot be a venue base URL ('' when it can): http(s) with a host, and on a
    loopback host unless explicitly allowed, so a lab URL never reaches production by accident."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{url!r} is not an http(s) URL with a host (e.g. http://127.0.0.1:8765/binance)"
    if parts.query or parts.fragment:
        return f"{url!r} must not carry a query or fragment"
    if parts.hostname not in LOOPBACK_HOSTS and not allow_nonloopback:
        return (
            f"{url!r} is not on a loopback host ({', '.join(LOOPBACK_HOSTS)}); set "
            "allow_nonloopback_url: true if this account really must be reached through it"
        )
    return ""


class GuardConfig(Strict):
    """The whole guard.yaml."""

    version: Literal[1] = 1
    service: ServiceSettings = ServiceSettings()
    accounts: tuple[AccountConfig, ...] = Field(min_length=1)
    _source: str = PrivateAttr(default="guard.yaml")  # the file it was loaded from
    _lines: Node | None = PrivateAttr(default=None)  # its YAML line index

    def problem(self, loc: tuple[str | int, ...], message: str) -> Problem:
        """A problem found after loading, at `loc` (e.g. service.alerts.urls[0]): file:line: field."""
        return Problem(self._source, line_of(self._lines, loc), field_of(self._lines, loc), message)

    @model_validator(mode="after")
    def _unique_names(self) -> GuardConfig:
        seen: set[str] = set()
        for account in self.accounts:
            if account.name in seen:
                raise ValueError(f"account name {account.name!r} is used twice")
            seen.add(account.name)
        return self

    def fingerprint(self) -> str:
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def load_config(path: Path) -> GuardConfig:
    """Validate `path`; relative policy and state paths are resolved against its folder."""
    data, root = parse_yaml(read_config_text(path), str(path))
    config = validate_data(data, root, str(path), GuardConfig)
    base = path.resolve().parent
    accounts = []
    problems = []
    for index, account in enumerate(config.accounts):
        policies = tuple(p if p.is_absolute() else base / p for p in account.policies)
        for policy in policies:
            if not policy.exists():
                problems.append(
                    Problem(
                        str(path),
                        None,
                        f"accounts[{index}].policies",
                        f"policy file {policy} does not exist",
                    )
                )
        update: dict[str, object] = {"policies": policies}
        scenario = Path(account.scenario)
        if scenario.suffix in (".yaml", ".yml") and not scenario.is_absolute():
            update["scenario"] = str(base / scenario)
        if account.state_file is not None:
            state = account.state_file
            update["state_file"] = state if state.is_absolute() else base / state
        accounts.append(account.model_copy(update=update))
    if problems:
        raise ConfigError(problems)
    loaded = config.model_copy(update={"accounts": tuple(accounts)})
    loaded._source, loaded._lines = str(path), root
    return loaded
