"""Accounts remember the markets their last snapshot listed, so operator commands resolve a market
written as a trader writes it (SOL, SOLUSDT, SOL/USDT:USDT) to exactly one of them.

Revision ID: 0004_account_markets
Revises: 0003_intent_position
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_account_markets"
down_revision: str | None = "0003_intent_position"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("markets", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("markets")
