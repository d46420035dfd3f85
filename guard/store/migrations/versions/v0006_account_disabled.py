"""Accounts remember why the service disabled them (a permanent error such as missing credentials)
and when, so `guard status` says so instead of showing a quiet account.

Revision ID: 0006_account_disabled
Revises: 0005_audit_chains
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_account_disabled"
down_revision: str | None = "0005_audit_chains"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("disabled_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("disabled_at", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("disabled_at")
        batch.drop_column("disabled_reason")
