"""Operator console tokens (HTTP API and web page): a name, a scope (read or operate) and the
sha256 of the secret, which is shown once at creation and never stored.

Revision ID: 0008_api_tokens
Revises: 0007_audit_archive
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_api_tokens"
down_revision: str | None = "0007_audit_archive"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(120), nullable=False, unique=True),
        sa.Column("scope", sa.String(10), nullable=False),
        sa.Column("secret_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(120), nullable=False),
        sa.Column("revoked_at", sa.BigInteger(), nullable=True),
        sa.Column("revoked_by", sa.String(120), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("api_tokens")
