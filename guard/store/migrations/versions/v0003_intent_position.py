"""Order intents remember the position size re-read just before the send, so an unknown outcome
can be resolved by the position: unchanged since means the order was not applied.

Revision ID: 0003_intent_position
Revises: 0002_leases
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_intent_position"
down_revision: str | None = "0002_leases"
branch_labels: str | None = None
depends_on: str | None = None

# Column storage mirrors guard.store.types: a Decimal as its exact string.
DECIMAL = sa.String(64)


def upgrade() -> None:
    with op.batch_alter_table("order_intents") as batch:
        batch.add_column(sa.Column("position_before", DECIMAL, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("order_intents") as batch:
        batch.drop_column("position_before")
