"""The lease keeper of one `guard run` replica (scale-out on PostgreSQL): join, heartbeat, fair
share, release and tick log, so that each account is ticked by exactly one replica at a time.

Every account has one lease row (holder, fencing token, expiry). A replica renews the leases it
holds on a heartbeat, takes free or expired ones up to its fair share (at most
ceil(accounts / alive replicas) + slack) with `SELECT … FOR UPDATE SKIP LOCKED`, and hands back
its excess when more replicas are alive. Every acquisition increments the account's token; the
intent transaction (Store.admit) and the tick record (Store.record_tick) re-check the holder and
the token, so a replica that lost its lease — hung, partitioned, or merely slow — can never write
an intent again. All lease times are the database server's clock (no clock skew between hosts).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlmodel import Session

from guard.core.audit import AuditEvent, EventKind
from guard.store.audit_chain import AuditChain
from guard.store.lease_queries import DB_NOW, Fence, micros, micros_at


class LeaseConflict(RuntimeError):
    """Another live replica already uses this replica id."""


def fair_share(accounts: int, alive: int, slack: int) -> int:
    """How many leases one replica may hold: ceil(accounts / alive) + slack (alive >= 1)."""
    if accounts < 0 or slack < 0:
        raise ValueError(f"accounts ({accounts}) and slack ({slack}) must not be negative")
    return math.ceil(accounts / max(alive, 1)) + slack


@dataclass(frozen=True, slots=True)
class LeaseSettings:
    """One replica's lease settings (see guard.service.config.Leases)."""

    replica: str
    ttl: timedelta
    renew: timedelta
    slack: int = 1

    def __post_init__(self) -> None:
        if self.ttl <= timedelta(0) or self.renew <= timedelta(0):
            raise ValueError("lease ttl and renew interval must be positive")
        if self.renew * 2 > self.ttl:
            raise ValueError(
                f"renew interval {self.renew} must be at most half the lease ttl {self.ttl}, "
                "or a single late heartbeat loses every lease"
            )


@dataclass(frozen=True, slots=True)
class Beat:
    """What one heartbeat changed."""

    held: Mapping[str, Fence]  # every lease held after the beat
    acquired: tuple[str, ...] = ()  # newly taken (each with a new token)
    released: tuple[str, ...] = ()  # handed back (fair share shrank, or no longer configured)
    lost: tuple[str, ...] = ()  # taken by another replica while this one could not renew
    alive: int = 1
    share: int = 0


@dataclass(slots=True)
class LeaseManager:
    """The lease side of one replica: join, heartbeat, local validity, release, tick log."""

    store: AuditChain
    settings: LeaseSettings
    monotonic: Callable[[], float] = time.monotonic
    held: dict[str, Fence] = field(default_factory=dict)
    valid_until: float = 0.0  # local monotonic deadline of every held lease
    joined: bool = False
    rows_for: frozenset[str] = frozenset()  # the accounts known to have a lease row

    @property
    def replica(self) -> str:
        return self.settings.replica

    @property
    def margin(self) -> timedelta:
        return self.settings.renew

    def _params(self, **extra: Any) -> dict[str, Any]:
        return {"replica": self.replica, "ttl": micros(self.settings.ttl), **extra}

    # ----- joining ------------------------------------------------------------------------------
    def join(self, accounts: Sequence[str], at: datetime) -> None:
        """Register this replica (refusing an id another live replica uses) and make sure every
        account has a lease row."""
        with self.store.transaction() as session:
            taken = session.execute(
                text(
                    "SELECT heartbeat_at FROM guard_replicas WHERE replica = :replica "
                    f"AND stopped_at IS NULL AND heartbeat_at > {DB_NOW} - :ttl FOR UPDATE"
                ),
                self._params(),
            ).first()
            if taken is not None:
                raise LeaseConflict(
                    f"replica id {self.replica!r} is used by a live replica (heartbeat within "
                    f"the {self.settings.ttl} lease ttl): give each replica its own "
                    "`service.leases.replica_id`, or start again once the old one is gone"
                )
            session.execute(
                text(
                    "INSERT INTO guard_replicas (replica, started_at, heartbeat_at, stopped_at) "
                    f"VALUES (:replica, :at, {DB_NOW}, NULL) ON CONFLICT (replica) DO UPDATE "
                    "SET started_at = EXCLUDED.started_at, heartbeat_at = EXCLUDED.heartbeat_at, "
                    "stopped_at = NULL"
                ),
                self._params(at=micros_at(at)),
            )
            # leases left by an earlier process under this id are handed back: re-taking them
            # bumps their tokens, so that process (were it only hung) can never write again
            session.execute(
                text(
                    "UPDATE account_leases SET holder = NULL, expires_at = 0 "
                    "WHERE holder = :replica"
                ),
                self._params(),
            )
            self._ensure_rows(session, accounts)
        self.rows_for = frozenset(accounts)
        self.held = {}
        self.joined = True

    def _ensure_rows(self, session: Session, accounts: Sequence[str]) -> None:
        if accounts and not self.rows_for.issuperset(accounts):
            session.execute(
                text(
                    "INSERT INTO account_leases (account, holder, token, expires_at) "
                    "SELECT name, NULL, 0, 0 FROM unnest(CAST(:accounts AS text[])) AS name "
                    "ON CONFLICT (account) DO NOTHING"
                ),
                {"accounts": list(accounts)},
            )

    # ----- the heartbeat ------------------------------------------------------------------------
    def beat(
        self,
        accounts: Sequence[str],
        busy: Collection[str],
        at: datetime,
        *,
        acquire: bool = True,
    ) -> Beat:
        """One heartbeat in one transaction: record this replica alive, renew its leases, hand
        back the excess over its fair share (never an account whose tick is running: `busy`),
        take free or expired leases up to the share (unless not `acquire`), audit the changes."""
        started = self.monotonic()
        wanted = sorted(set(accounts))
        with self.store.transaction() as session:
            session.execute(
                text(
                    f"UPDATE guard_replicas SET heartbeat_at = {DB_NOW}, stopped_at = NULL "
                    "WHERE replica = :replica"
                ),
                self._params(),
            )
            self._ensure_rows(session, wanted)
            renewed = {
                account: int(token)
                for account, token in session.execute(
                    text(
                        f"UPDATE account_leases SET expires_at = {DB_NOW} + :ttl, "
                        f"renewed_at = {DB_NOW} WHERE holder = :replica RETURNING account, token"
                    ),
                    self._params(),
                ).all()
            }
            lost = sorted(
                name for name, fence in self.held.items() if renewed.get(name) != fence.token
            )
            alive = int(
                session.execute(
                    text(
                        "SELECT count(*) FROM guard_replicas WHERE stopped_at IS NULL "
                        f"AND heartbeat_at > {DB_NOW} - :ttl"
                    ),
                    self._params(),
                ).scalar_one()
            )
            share = fair_share(len(wanted), alive, self.settings.slack)
            configured = set(wanted)
            gone = [name for name in renewed if name not in configured and name not in busy]
            keep = sorted(name for name in renewed if name in configured)
            spare = [name for name in reversed(keep) if name not in busy]
            excess = spare[: max(len(keep) - share, 0)]
            released = sorted(gone + excess)
            if released:
                session.execute(
                    text(
                        "UPDATE account_leases SET holder = NULL, expires_at = 0 "
                        "WHERE holder = :replica AND account = ANY(CAST(:names AS text[]))"
                    ),
                    self._params(names=released),
                )
            mine = {name: renewed[name] for name in renewed if name not in released}
            taken: dict[str, tuple[int, str | None]] = {}
            room = share - sum(1 for name in mine if name in configured)
            if acquire and room > 0:
                taken = self._acquire(session, wanted, room)
            mine.update({name: token for name, (token, _) in taken.items()})
            events = self._events(taken, released, lost, share, alive, renewed)
            if events:
                self.store.append(session, events, at)
        self.rows_for = self.rows_for | frozenset(wanted)
        previous = self.held
        fences = {
            name: previous[name]
            if name in previous and previous[name].token == token
            else Fence(self.replica, token, self.margin)
            for name, token in mine.items()
        }
        self.held = fences
        self.valid_until = started + self.settings.ttl.total_seconds()
        # still ours with the same token after a local lapse: nobody else held them meanwhile
        adopted = [name for name in mine if name not in taken and name not in previous]
        return Beat(
            held=dict(fences),
            acquired=tuple(sorted([*taken, *adopted])),
            released=tuple(released),
            lost=tuple(lost),
            alive=alive,
            share=share,
        )

    def _acquire(
        self, session: Session, accounts: Sequence[str], room: int
    ) -> dict[str, tuple[int, str | None]]:
        """Take up to `room` free or expired leases; each gets the next token."""
        rows = session.execute(
            text(
                "SELECT account, holder FROM account_leases "
                "WHERE account = ANY(CAST(:accounts AS text[])) "
                f"AND (holder IS NULL OR expires_at <= {DB_NOW}) "
                "ORDER BY md5(account || :replica) LIMIT :room FOR UPDATE SKIP LOCKED"
            ),
            self._params(accounts=list(accounts), room=room),
        ).all()
        if not rows:
            return {}
        previous = {account: holder for account, holder in rows}
        updated = session.execute(
            text(
                "UPDATE account_leases SET holder = :replica, token = token + 1, "
                f"acquired_at = {DB_NOW}, renewed_at = {DB_NOW}, expires_at = {DB_NOW} + :ttl "
                "WHERE account = ANY(CAST(:names AS text[])) RETURNING account, token"
            ),
            self._params(names=list(previous)),
        ).all()
        return {account: (int(token), previous[account]) for account, token in updated}

    def _events(
        self,
        taken: Mapping[str, tuple[int, str | None]],
        released: Sequence[str],
        lost: Sequence[str],
        share: int,
        alive: int,
        renewed: Mapping[str, int],
    ) -> list[AuditEvent]:
        common = {"replica": self.replica, "share": share, "alive": alive}
        events = []
        for name in sorted(taken):
            token, before = taken[name]
            origin = f"taken over from {before} (its lease expired)" if before else "was free"
            events.append(
                AuditEvent(
                    EventKind.LEASE_ACQUIRED,
                    f"replica {self.replica} acquired the lease of {name} (token {token}; "
                    f"{origin}; share {share} with {alive} replica(s) alive)",
                    account=name,
                    actor=self.replica,
                    payload={**common, "token": token, "previous_holder": before},
                )
            )
        for name in released:
            events.append(
                AuditEvent(
                    EventKind.LEASE_RELEASED,
                    f"replica {self.replica} released the lease of {name} (token "
                    f"{renewed.get(name)}; share {share} with {alive} replica(s) alive)",
                    account=name,
                    actor=self.replica,
                    payload={**common, "token": renewed.get(name)},
                )
            )
        for name in lost:
            token = self.held[name].token
            events.append(
                AuditEvent(
                    EventKind.LEASE_LOST,
                    f"replica {self.replica} lost the lease of {name} (token {token}): another "
                    "replica took it over while this one could not renew",
                    account=name,
                    actor=self.replica,
                    payload={**common, "token": token},
                )
            )
        return events

    # ----- local view ---------------------------------------------------------------------------
    def fence(self, account: str) -> Fence | None:
        """The fence of `account` when held and not past the local deadline (minus the margin)."""
        held = self.held.get(account)
        if held is None:
            return None
        if self.monotonic() >= self.valid_until - self.margin.total_seconds():
            return None
        return held

    def lapse(self) -> list[str]:
        """Forget every lease once the local deadline passed without a renewal (the database
        is unreachable): this replica stops ticking them before anyone else may take them."""
        if not self.held or self.monotonic() < self.valid_until - self.margin.total_seconds():
            return []
        dropped = sorted(self.held)
        self.held = {}
        return dropped

    # ----- leaving ------------------------------------------------------------------------------
    def leave(self, at: datetime) -> list[str]:
        """Hand back every lease and mark this replica stopped (a clean shutdown), audited."""
        with self.store.transaction() as session:
            released = sorted(
                account
                for (account,) in session.execute(
                    text(
                        "UPDATE account_leases SET holder = NULL, expires_at = 0 "
                        "WHERE holder = :replica RETURNING account"
                    ),
                    self._params(),
                ).all()
            )
            session.execute(
                text(f"UPDATE guard_replicas SET stopped_at = {DB_NOW} WHERE replica = :replica"),
                self._params(),
            )
            events = [
                AuditEvent(
                    EventKind.LEASE_RELEASED,
                    f"replica {self.replica} released the lease of {name} (shutting down)",
                    account=name,
                    actor=self.replica,
                    payload={"replica": self.replica, "shutdown": True},
                )
                for name in released
            ]
            self.store.append(session, events, at)
        self.held = {}
        return released

    # ----- tick log -----------------------------------------------------------------------------
    def record_tick(self, account: str, token: int, started: datetime, ended: datetime) -> None:
        """Log that this replica ticked `account` under `token` from `started` to `ended`."""
        with self.store.transaction() as session:
            session.execute(
                text(
                    "INSERT INTO lease_ticks (account, replica, token, started_at, ended_at) "
                    "VALUES (:account, :replica, :token, :started, :ended)"
                ),
                {
                    "account": account,
                    "replica": self.replica,
                    "token": token,
                    "started": micros_at(started),
                    "ended": micros_at(ended),
                },
            )

    def prune_ticks(self, before: datetime) -> int:
        """Delete tick-log rows that ended before `before`; returns how many."""
        with self.store.transaction() as session:
            result = session.execute(
                text("DELETE FROM lease_ticks WHERE ended_at < :before"),
                {"before": micros_at(before)},
            )
            return int(getattr(result, "rowcount", 0) or 0)
