"""SQLModel tables of scale-out (schema owned by migration 0002_leases): one lease row per
account (holder, fencing token, expiry), one heartbeat row per replica, and an optional log of
which replica ticked which account when."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, Integer, String
from sqlmodel import Field, SQLModel

from guard.store.types import UTCMicros


class LeaseRow(SQLModel, table=True):
    """The lease of one account: free when `holder` is NULL or `expires_at` has passed.

    `token` grows by one at every acquisition (the fencing token): a write made under an older
    token is refused, so a replica that lost the lease can never act on the account again."""

    __tablename__ = "account_leases"
    __table_args__ = (Index("ix_account_leases_holder", "holder"),)

    account: str = Field(sa_column=Column(String(120), primary_key=True))
    holder: str | None = Field(default=None, sa_column=Column(String(120)))
    token: int = Field(sa_column=Column(BigInteger(), nullable=False))
    acquired_at: datetime | None = Field(default=None, sa_column=Column(UTCMicros()))
    renewed_at: datetime | None = Field(default=None, sa_column=Column(UTCMicros()))
    expires_at: datetime = Field(sa_column=Column(UTCMicros(), nullable=False))


class ReplicaRow(SQLModel, table=True):
    """One `guard run` replica; alive while its heartbeat is younger than the lease ttl."""

    __tablename__ = "guard_replicas"

    replica: str = Field(sa_column=Column(String(120), primary_key=True))
    started_at: datetime = Field(sa_column=Column(UTCMicros(), nullable=False))
    heartbeat_at: datetime = Field(sa_column=Column(UTCMicros(), nullable=False))
    stopped_at: datetime | None = Field(default=None, sa_column=Column(UTCMicros()))


class LeaseTickRow(SQLModel, table=True):
    """One tick of one account by one replica under one lease token (wall-clock interval)."""

    __tablename__ = "lease_ticks"
    __table_args__ = (Index("ix_lease_ticks_account_started", "account", "started_at"),)

    id: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
    )
    account: str = Field(sa_column=Column(String(120), nullable=False))
    replica: str = Field(sa_column=Column(String(120), nullable=False))
    token: int = Field(sa_column=Column(BigInteger(), nullable=False))
    started_at: datetime = Field(sa_column=Column(UTCMicros(), nullable=False))
    ended_at: datetime = Field(sa_column=Column(UTCMicros(), nullable=False))
