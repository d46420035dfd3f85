"""SQLModel tables of the guard's database (schema owned by the alembic migrations)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import cast

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text
from sqlmodel import Field, SQLModel

from guard.store.types import DecimalText, UTCMicros


def _decimal(nullable: bool = True) -> Column[Decimal]:
    return Column(DecimalText(), nullable=nullable)


def _time(nullable: bool = False, index: bool = False) -> Column[datetime]:
    return Column(UTCMicros(), nullable=nullable, index=index)


class AuditRow(SQLModel, table=True):
    """One append-only, hash-chained audit event."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_account_id", "account", "id"),
        Index("ix_audit_chain_id", "chain", "id"),
    )

    id: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
    )
    at: datetime = Field(sa_column=_time(index=True))
    # the hash chain this row links into: its account, "@service" or "@legacy" (before 0005)
    chain: str = Field(sa_column=Column(String(120), nullable=False))
    kind: str = Field(sa_column=Column(String(40), nullable=False, index=True))
    account: str | None = Field(default=None, sa_column=Column(String(120)))
    symbol: str | None = Field(default=None, sa_column=Column(String(80)))
    rule_id: str | None = Field(default=None, sa_column=Column(String(80)))
    tick_id: str | None = Field(default=None, sa_column=Column(String(80)))
    fingerprint: str | None = Field(default=None, sa_column=Column(String(64)))
    actor: str = Field(sa_column=Column(String(120), nullable=False))
    client_order_id: str | None = Field(default=None, sa_column=Column(String(80)))
    message: str = Field(sa_column=Column(Text, nullable=False))
    payload: str = Field(sa_column=Column(Text, nullable=False))
    prev_hash: str = Field(sa_column=Column(String(64), nullable=False))
    hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))


class IntentRow(SQLModel, table=True):
    """An order intent, written before the order is sent; keyed by its client order id."""

    __tablename__ = "order_intents"
    __table_args__ = (Index("ix_intent_account_status", "account", "status"),)

    client_order_id: str = Field(sa_column=Column(String(80), primary_key=True))
    account: str = Field(sa_column=Column(String(120), nullable=False))
    symbol: str = Field(sa_column=Column(String(80), nullable=False))
    side: str = Field(sa_column=Column(String(8), nullable=False))
    position_side: str = Field(sa_column=Column(String(8), nullable=False))
    margin_mode: str = Field(sa_column=Column(String(10), nullable=False))
    order_type: str = Field(sa_column=Column(String(12), nullable=False))
    quantity: Decimal = Field(sa_column=_decimal(nullable=False))
    limit_price: Decimal | None = Field(default=None, sa_column=_decimal())
    reduce_only: bool = True
    hedged: bool = False
    status: str = Field(sa_column=Column(String(20), nullable=False))
    filled_quantity: Decimal = Field(sa_column=_decimal(nullable=False))
    average_price: Decimal | None = Field(default=None, sa_column=_decimal())
    fee: Decimal = Field(sa_column=_decimal(nullable=False))
    venue_order_id: str | None = Field(default=None, sa_column=Column(String(120)))
    rule_ids: str = Field(sa_column=Column(Text, nullable=False))
    steps: str = Field(sa_column=Column(Text, nullable=False))
    reason: str = Field(sa_column=Column(Text, nullable=False))
    message: str = Field(default="", sa_column=Column(Text, nullable=False))
    tick_id: str | None = Field(default=None, sa_column=Column(String(80)))
    actor: str = Field(sa_column=Column(String(120), nullable=False))
    dry_run: bool = False
    created_at: datetime = Field(sa_column=_time())
    updated_at: datetime = Field(sa_column=_time())
    # the position size re-read just before the send (None: never passed the egress gate)
    position_before: Decimal | None = Field(default=None, sa_column=_decimal())


class StateRow(SQLModel, table=True):
    """The guard's memory of one account (episodes, peaks, counters) as JSON."""

    __tablename__ = "guard_state"

    account: str = Field(sa_column=Column(String(120), primary_key=True))
    state: str = Field(sa_column=Column(Text, nullable=False))
    last_tick_id: str | None = Field(default=None, sa_column=Column(String(80)))
    last_tick_at: datetime | None = Field(default=None, sa_column=_time(nullable=True))
    updated_at: datetime = Field(sa_column=_time())
    summary: str = Field(default="{}", sa_column=Column(Text, nullable=False))


class LockRow(SQLModel, table=True):
    """A human override lock: global (no account), per account, or per account and market."""

    __tablename__ = "override_locks"

    id: int | None = Field(
        default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True)
    )
    scope: str = Field(sa_column=Column(String(10), nullable=False))
    account: str | None = Field(default=None, sa_column=Column(String(120), index=True))
    market: str | None = Field(default=None, sa_column=Column(String(80)))
    reason: str = Field(sa_column=Column(Text, nullable=False))
    actor: str = Field(sa_column=Column(String(120), nullable=False))
    created_at: datetime = Field(sa_column=_time())
    expires_at: datetime | None = Field(default=None, sa_column=_time(nullable=True))
    cleared_at: datetime | None = Field(default=None, sa_column=_time(nullable=True))
    cleared_by: str | None = Field(default=None, sa_column=Column(String(120)))
    clear_reason: str | None = Field(default=None, sa_column=Column(Text))


class AccountRow(SQLModel, table=True):
    """An account the service guards, registered at its start; the CLI's list of known accounts."""

    __tablename__ = "accounts"

    name: str = Field(sa_column=Column(String(120), primary_key=True))
    venue: str = Field(sa_column=Column(String(40), nullable=False))
    dry_run: bool = False
    poll_interval: Decimal = Field(sa_column=_decimal(nullable=False))  # seconds
    registered_at: datetime = Field(sa_column=_time())
    last_seen_at: datetime | None = Field(default=None, sa_column=_time(nullable=True))
    markets: str | None = Field(default=None, sa_column=Column(Text))  # JSON list, last snapshot
    disabled_reason: str | None = Field(default=None, sa_column=Column(Text))  # permanent error
    disabled_at: datetime | None = Field(default=None, sa_column=_time(nullable=True))


class RequestRow(SQLModel, table=True):
    """An operator's request (a flatten) waiting for the service to carry it out."""

    __tablename__ = "operator_requests"
    __table_args__ = (Index("ix_request_account_status", "account", "status"),)

    id: int | None = Field(
        default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True)
    )
    kind: str = Field(sa_column=Column(String(20), nullable=False))
    account: str = Field(sa_column=Column(String(120), nullable=False))
    market: str | None = Field(default=None, sa_column=Column(String(80)))
    fraction: Decimal = Field(sa_column=_decimal(nullable=False))
    reason: str = Field(sa_column=Column(Text, nullable=False))
    actor: str = Field(sa_column=Column(String(120), nullable=False))
    created_at: datetime = Field(sa_column=_time())
    status: str = Field(sa_column=Column(String(12), nullable=False))
    outcome: str | None = Field(default=None, sa_column=Column(Text))
    completed_at: datetime | None = Field(default=None, sa_column=_time(nullable=True))


class ArchiveCutRow(SQLModel, table=True):
    """Per chain, the last audit row id moved to an archive file (lets only those be deleted)."""

    __tablename__ = "audit_archive_cuts"

    chain: str = Field(sa_column=Column(String(120), primary_key=True))
    last_id: int = Field(sa_column=Column(BigInteger, nullable=False))


def table_of(model: type[SQLModel]) -> Table:
    """The Core table of a model (for hot-path statements without the ORM)."""
    return cast(Table, getattr(model, "__table__"))  # noqa: B009


class TokenRow(SQLModel, table=True):
    """An operator console token: only the sha256 of its secret is kept; revoked, never deleted."""

    __tablename__ = "api_tokens"

    id: int | None = Field(
        default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True)
    )
    name: str = Field(sa_column=Column(String(120), nullable=False, unique=True))
    scope: str = Field(sa_column=Column(String(10), nullable=False))
    secret_sha256: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    created_at: datetime = Field(sa_column=_time())
    created_by: str = Field(sa_column=Column(String(120), nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=_time(nullable=True))
    revoked_by: str | None = Field(default=None, sa_column=Column(String(120)))
