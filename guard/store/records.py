"""Plain read-back values of the operator tables: accounts, override locks, operator requests,
and the per-account status the CLI shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from guard.core.position_risk import PositionRisk

EXPIRY_ACTOR = "(expiry)"  # cleared_by of a lock that ran out; its cleared_at is its expires_at


class LockScope(StrEnum):
    GLOBAL = "global"
    ACCOUNT = "account"
    MARKET = "market"


class RequestStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class AccountInfo:
    """What the service registers about one account when it starts."""

    name: str
    venue: str
    dry_run: bool
    poll_interval: Decimal  # seconds
    disabled_reason: str | None = None  # kept across a reload; a fresh start clears it


@dataclass(frozen=True, slots=True)
class StoredAccount:
    name: str
    venue: str
    dry_run: bool
    poll_interval: Decimal
    registered_at: datetime
    last_seen_at: datetime | None
    disabled_reason: str | None = None
    disabled_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StoredLock:
    """An override lock and its history (who set it, who cleared it or when it ran out)."""

    id: int
    scope: LockScope
    account: str | None
    market: str | None
    reason: str
    actor: str
    created_at: datetime
    expires_at: datetime | None
    cleared_at: datetime | None
    cleared_by: str | None
    clear_reason: str | None

    def state(self, at: datetime) -> str:
        """active, expired or cleared, as of `at`."""
        if self.cleared_at is None:
            if self.expires_at is not None and self.expires_at <= at:
                return "expired"
            return "active"
        return "expired" if self.cleared_by == EXPIRY_ACTOR else "cleared"

    def is_active(self, at: datetime) -> bool:
        return self.state(at) == "active"

    def covers(self, account: str, symbol: str | None = None) -> bool:
        """Whether this lock holds back actions on `account` (and `symbol`, when given)."""
        if self.account is None:
            return True
        if self.account != account:
            return False
        return self.market is None or symbol is None or self.market == symbol

    @property
    def target(self) -> str:
        if self.scope is LockScope.GLOBAL:
            return "all accounts"
        if self.scope is LockScope.ACCOUNT:
            return f"account {self.account}"
        return f"{self.market} on account {self.account}"

    def describe(self) -> str:
        until = f" until {self.expires_at.isoformat()}" if self.expires_at is not None else ""
        return f"lock #{self.id} on {self.target} by {self.actor}{until}: {self.reason}"


@dataclass(frozen=True, slots=True)
class StoredRequest:
    """An operator's flatten request and, once the service carried it out, its outcome."""

    id: int
    kind: str
    account: str
    market: str | None
    fraction: Decimal
    reason: str
    actor: str
    created_at: datetime
    status: RequestStatus
    outcome: str | None
    completed_at: datetime | None


@dataclass(frozen=True, slots=True)
class AccountStatus:
    """One account as `guard status` shows it."""

    name: str
    venue: str | None  # None: seen in guard state but never registered by a service
    dry_run: bool
    # active, dry-run, paused (global lock), locked (account or market lock), disabled, or
    # not running (not registered by the service's last start or reload)
    mode: str
    last_tick_at: datetime | None
    tick_age: timedelta | None
    equity: Decimal | None
    margin_ratio: Decimal | None
    worst_liquidation_distance: Decimal | None
    open_breaches: int
    pending_intents: int
    pending_requests: int
    locks: tuple[StoredLock, ...]
    disabled_reason: str | None = None  # a permanent error stopped the service acting on it
    in_config: bool = True  # registered by the service's last start or reload
    positions: tuple[PositionRisk, ...] = ()  # at the last evaluated tick
