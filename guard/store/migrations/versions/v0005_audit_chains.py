"""Per-account audit chains: each audit row names the hash chain it links into (its account, or
"@service"); rows written before this revision keep their global links as the "@legacy" chain.

Revision ID: 0005_audit_chains
Revises: 0004_account_markets
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_audit_chains"
down_revision: str | None = "0004_account_markets"
branch_labels: str | None = None
depends_on: str | None = None

LEGACY = "@legacy"


def upgrade() -> None:
    # a plain ADD COLUMN (no table rebuild, no UPDATE: the append-only triggers stay and never
    # fire); every existing row gets the legacy chain from the default
    op.add_column(
        "audit_events",
        sa.Column("chain", sa.String(120), nullable=False, server_default=LEGACY),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("audit_events", "chain", server_default=None)
    op.create_index("ix_audit_chain_id", "audit_events", ["chain", "id"])


def downgrade() -> None:
    # rows written on per-account chains no longer verify as one global chain afterwards
    op.drop_index("ix_audit_chain_id", table_name="audit_events")
    op.execute("ALTER TABLE audit_events DROP COLUMN chain")
