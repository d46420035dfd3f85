"""Override locks: set, clear, expire and list (each audited in the same transaction), and
which active lock covers an account or market; a lock is never deleted, only cleared."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row
from sqlmodel import Session, col, select

from guard.core.audit import AuditEvent, EventKind
from guard.store.audit_chain import AuditChain
from guard.store.errors import InvalidRequest, LockNotFound
from guard.store.records import EXPIRY_ACTOR, LockScope, StoredLock
from guard.store.tables import LockRow


class Locks(AuditChain):
    """Override locks of the Store."""

    def _active_locks(self, session: Session, account: str, at: datetime) -> list[LockRow]:
        rows = session.exec(
            select(LockRow).where(
                col(LockRow.cleared_at).is_(None),
                (col(LockRow.account).is_(None)) | (LockRow.account == account),
            )
        ).all()
        return [row for row in rows if row.expires_at is None or row.expires_at > at]

    def set_lock(
        self,
        *,
        reason: str,
        actor: str,
        at: datetime,
        account: str | None = None,
        market: str | None = None,
        expires_at: datetime | None = None,
    ) -> StoredLock:
        """Take an override lock (global, account, or account+market), audited as lock_set."""
        if not reason.strip():
            raise InvalidRequest("a lock needs a reason")
        if market is not None and account is None:
            raise InvalidRequest("a market lock needs its account (--account)")
        if expires_at is not None and expires_at <= at:
            raise InvalidRequest(
                f"expiry {expires_at.isoformat()} is not after now {at.isoformat()}"
            )
        scope = (
            LockScope.GLOBAL
            if account is None
            else (LockScope.ACCOUNT if market is None else LockScope.MARKET)
        )
        with self.transaction() as session:
            self._serialize(session, locks=True)
            row = LockRow(
                scope=scope.value,
                account=account,
                market=market,
                reason=reason.strip(),
                actor=actor,
                created_at=at,
                expires_at=expires_at,
            )
            session.add(row)
            session.flush()
            lock = stored_lock(row)
            self.append(session, [_lock_event(EventKind.LOCK_SET, lock, actor, "set")], at)
        return lock

    def lock(self, lock_id: int) -> StoredLock | None:
        with self.reading() as session:
            row = session.get(LockRow, lock_id)
            return stored_lock(row) if row is not None else None

    def locks(self, at: datetime, *, include_inactive: bool = False) -> list[StoredLock]:
        """Active locks as of `at` (or every lock ever taken, with `include_inactive`), by id."""
        with self.reading() as session:
            rows = session.exec(select(LockRow).order_by(col(LockRow.id))).all()
            found = [stored_lock(row) for row in rows]
        return found if include_inactive else [lock for lock in found if lock.is_active(at)]

    def clear_lock(
        self, lock_id: int, *, actor: str, at: datetime, reason: str | None = None
    ) -> StoredLock:
        """Clear one lock by id (audited as lock_cleared); LockNotFound / InvalidRequest."""
        with self.transaction() as session:
            self._serialize(session, locks=True)
            row = session.get(LockRow, lock_id)
            if row is None:
                raise LockNotFound(f"no lock with id {lock_id} (see `guard locks --all`)")
            current = stored_lock(row)
            if not current.is_active(at):
                when = current.cleared_at or current.expires_at
                by = f" by {current.cleared_by}" if current.cleared_by else ""
                raise InvalidRequest(
                    f"lock #{lock_id} is already {current.state(at)}{by}"
                    + (f" at {when.isoformat()}" if when is not None else "")
                )
            cleared = self._clear(session, row, actor, at, reason)
        return cleared

    def clear_locks(
        self,
        *,
        actor: str,
        at: datetime,
        account: str | None = None,
        market: str | None = None,
        reason: str | None = None,
    ) -> list[StoredLock]:
        """Clear the active locks of exactly this scope (no account: the global locks)."""
        with self.transaction() as session:
            self._serialize(session, locks=True)
            rows = session.exec(
                select(LockRow)
                .where(
                    col(LockRow.cleared_at).is_(None),
                    col(LockRow.account).is_(None)
                    if account is None
                    else LockRow.account == account,
                    col(LockRow.market).is_(None) if market is None else LockRow.market == market,
                )
                .order_by(col(LockRow.id))
            ).all()
            return [
                self._clear(session, row, actor, at, reason)
                for row in rows
                if stored_lock(row).is_active(at)
            ]

    def _clear(
        self, session: Session, row: LockRow, actor: str, at: datetime, reason: str | None
    ) -> StoredLock:
        row.cleared_at = at
        row.cleared_by = actor
        row.clear_reason = reason
        session.add(row)
        lock = stored_lock(row)
        self.append(session, [_lock_event(EventKind.LOCK_CLEARED, lock, actor, "cleared")], at)
        return lock

    def expire_locks(self, now: datetime, actor: str = "guard") -> list[StoredLock]:
        """Mark locks whose expiry has passed, auditing each as lock_expired exactly once."""
        with self.transaction() as session:
            self._serialize(session, locks=True)
            rows = session.exec(
                select(LockRow)
                .where(
                    col(LockRow.cleared_at).is_(None),
                    col(LockRow.expires_at).is_not(None),
                    col(LockRow.expires_at) <= now,
                )
                .order_by(col(LockRow.id))
            ).all()
            expired: list[StoredLock] = []
            for row in rows:
                row.cleared_at = row.expires_at
                row.cleared_by = EXPIRY_ACTOR
                row.clear_reason = "expired"
                session.add(row)
                expired.append(stored_lock(row))
            self.append(
                session,
                [_lock_event(EventKind.LOCK_EXPIRED, lock, actor, "expired") for lock in expired],
                now,
            )
        return expired


def stored_lock(row: LockRow | Row[Any]) -> StoredLock:
    assert row.id is not None
    return StoredLock(
        id=row.id,
        scope=LockScope(row.scope),
        account=row.account,
        market=row.market,
        reason=row.reason,
        actor=row.actor,
        created_at=row.created_at,
        expires_at=row.expires_at,
        cleared_at=row.cleared_at,
        cleared_by=row.cleared_by,
        clear_reason=row.clear_reason,
    )


def _lock_event(kind: EventKind, lock: StoredLock, actor: str, verb: str) -> AuditEvent:
    return AuditEvent(
        kind,
        f"lock #{lock.id} on {lock.target} {verb} by {actor}: {lock.reason}"
        + (f" (cleared: {lock.clear_reason})" if verb == "cleared" and lock.clear_reason else ""),
        account=lock.account,
        symbol=lock.market,
        actor=actor,
        payload={
            "lock_id": lock.id,
            "scope": lock.scope.value,
            "reason": lock.reason,
            "set_by": lock.actor,
            "created_at": lock.created_at,
            "expires_at": lock.expires_at,
            "cleared_at": lock.cleared_at,
            "clear_reason": lock.clear_reason,
        },
    )


def covering_all(locks: Sequence[LockRow], symbol: str) -> list[LockRow]:
    """Every lock of `locks` (one account's active ones) that covers `symbol`, oldest first."""
    return [
        lock
        for lock in sorted(locks, key=lambda row: row.id or 0)
        if lock.market is None or lock.market == symbol
    ]


def covering(locks: Sequence[LockRow], symbol: str) -> LockRow | None:
    """The oldest lock of `locks` that covers `symbol`, if any."""
    found = covering_all(locks, symbol)
    return found[0] if found else None


def lock_description(lock: LockRow | StoredLock) -> str:
    """How a lock is named to a human in holds and audits (a row or a value read back)."""
    return f"lock #{lock.id} ({lock.scope}, by {lock.actor}: {lock.reason})"
