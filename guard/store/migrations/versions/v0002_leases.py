"""Scale-out leases: account leases (holder, fencing token, expiry), replica heartbeats and the
per-tick log of which replica ticked which account.

Revision ID: 0002_leases
Revises: 0001_initial
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_leases"
down_revision: str | None = "0001_initial"
branch_labels: str | None = None
depends_on: str | None = None

# Column storage mirrors guard.store.types: time as UTC microseconds.
MICROS = sa.BigInteger()


def upgrade() -> None:
    op.create_table(
        "account_leases",
        sa.Column("account", sa.String(120), primary_key=True),
        sa.Column("holder", sa.String(120)),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.Column("acquired_at", MICROS),
        sa.Column("renewed_at", MICROS),
        sa.Column("expires_at", MICROS, nullable=False),
    )
    op.create_index("ix_account_leases_holder", "account_leases", ["holder"])
    op.create_table(
        "guard_replicas",
        sa.Column("replica", sa.String(120), primary_key=True),
        sa.Column("started_at", MICROS, nullable=False),
        sa.Column("heartbeat_at", MICROS, nullable=False),
        sa.Column("stopped_at", MICROS),
    )
    op.create_table(
        "lease_ticks",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("account", sa.String(120), nullable=False),
        sa.Column("replica", sa.String(120), nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.Column("started_at", MICROS, nullable=False),
        sa.Column("ended_at", MICROS, nullable=False),
    )
    op.create_index("ix_lease_ticks_account_started", "lease_ticks", ["account", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_lease_ticks_account_started", table_name="lease_ticks")
    op.drop_table("lease_ticks")
    op.drop_table("guard_replicas")
    op.drop_index("ix_account_leases_holder", table_name="account_leases")
    op.drop_table("account_leases")
