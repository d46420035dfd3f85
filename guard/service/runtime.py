"""What the service keeps per account and reports per tick: AccountRuntime (mutable, one per
account) and TickReport (frozen). Plain data: no I/O, no behaviour."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from guard.core.domain import AccountSnapshot, Decision, PositionKey
from guard.core.planner import Plan
from guard.core.policy.schema import PolicySet
from guard.core.rails import Hold, PositionChange
from guard.core.venues.base import VenueRules
from guard.gateway.base import Gateway
from guard.service.executor import ExecutionReport
from guard.store.lease_queries import Fence


@dataclass(slots=True)
class AccountRuntime:
    """Everything the service needs to tick one account."""

    name: str
    rules: VenueRules
    gateway: Gateway
    policies: PolicySet
    dry_run: bool = False
    disabled_reason: str | None = None  # set after a permanent error: no further action
    clock: Callable[[], datetime] | None = None  # the account's time (paper: virtual time)
    poll_interval: timedelta = timedelta(seconds=15)
    previous: AccountSnapshot | None = None  # the last snapshot, for the sanity rails
    own_fills: dict[PositionKey, Decimal] = field(default_factory=dict)  # since `previous`
    fence: Fence | None = None  # scale-out: the lease this replica holds on the account
    verify_until: datetime | None = None  # look client ids up before sending until then
    markets_recorded: frozenset[str] = frozenset()  # what the store knows of its markets
    audited_outcome: str | None = None  # the last quiet outcome written to the audit log
    audited_at: datetime | None = None  # when (wall clock), for the heartbeat
    proximity_warned: bool = False  # the start-up ranking by liquidation proximity was sent


@dataclass(frozen=True, slots=True)
class TickReport:
    """The outcome of one tick of one account."""

    account: str
    tick_id: str
    decision: Decision | None
    plan: Plan | None
    execution: ExecutionReport | None
    error: str | None = None
    holds: tuple[Hold, ...] = ()
    changes: tuple[PositionChange, ...] = ()
