"""The lease tables as the store reads them: the fence check a fenced write makes inside its own
transaction, and the read-back of leases and the tick log; all times are the database's clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text

import guard.store.lease_tables  # noqa: F401  (registers the lease tables on SQLModel.metadata)
from guard.store.database import Connectable, Database
from guard.store.types import UTCMicros

# The database server's clock in UTC microseconds (the unit of every time column).
DB_NOW = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::bigint"
_MICROS = UTCMicros()


class LeaseLost(RuntimeError):
    """This replica no longer holds the account's lease (or its token is stale): no write."""


@dataclass(frozen=True, slots=True)
class Fence:
    """Proof of holding an account's lease: the holder and the token of that acquisition.

    `margin`: a write is refused unless the lease still has at least this long to run, so an
    admitted order is marked sent before any other replica could take the account over."""

    replica: str
    token: int
    margin: timedelta = timedelta(0)


def check_fence(session: Connectable, account: str, fence: Fence) -> None:
    """Raise LeaseLost unless `fence` still holds `account`'s lease, with its margin left.

    Runs inside the caller's transaction (after the account's audit-chain lock, which the
    takeover's lease_acquired event takes too), so it is ordered with every takeover: a takeover
    committed before it is seen, one after it comes too late to matter because the write it
    guards commits first."""
    row = session.execute(
        text(
            f"SELECT holder, token, expires_at - {DB_NOW} FROM account_leases "
            "WHERE account = :account"
        ),
        {"account": account},
    ).first()
    if row is None:
        raise LeaseLost(f"account {account!r} has no lease row: replica {fence.replica} holds none")
    holder, token, left = row
    if holder != fence.replica or token != fence.token:
        now_held = f"held by {holder} with token {token}" if holder else "free"
        raise LeaseLost(
            f"replica {fence.replica} lost the lease of {account} (token {fence.token}); it is "
            f"now {now_held}: nothing written"
        )
    margin = micros(fence.margin)
    if left <= margin:
        raise LeaseLost(
            f"lease of {account} held by {fence.replica} (token {fence.token}) has "
            f"{max(left, 0) / 1e6:.3f}s left, under the {margin / 1e6:.3f}s margin: nothing written"
        )


@dataclass(frozen=True, slots=True)
class LeaseView:
    """One lease row as read back (for status and tests)."""

    account: str
    holder: str | None
    token: int
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class TickSpan:
    """One logged tick."""

    account: str
    replica: str
    token: int
    started_at: datetime
    ended_at: datetime


def leases(store: Database) -> list[LeaseView]:
    """Every lease row, by account."""
    with store.reading() as session:
        rows = session.execute(
            text("SELECT account, holder, token, expires_at FROM account_leases ORDER BY account")
        ).all()
    return [LeaseView(a, h, int(t), _from_micros(e)) for a, h, t, e in rows]


def tick_spans(store: Database) -> list[TickSpan]:
    """Every logged tick, by account then start."""
    with store.reading() as session:
        rows = session.execute(
            text(
                "SELECT account, replica, token, started_at, ended_at FROM lease_ticks "
                "ORDER BY account, started_at"
            )
        ).all()
    return [TickSpan(a, r, int(t), _from_micros(s), _from_micros(e)) for a, r, t, s, e in rows]


def micros(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def micros_at(at: datetime) -> int:
    value = _MICROS.process_bind_param(at, None)  # type: ignore[arg-type]
    assert value is not None
    return value


def _from_micros(value: int) -> datetime:
    result = _MICROS.process_result_value(value, None)  # type: ignore[arg-type]
    assert result is not None
    return result
