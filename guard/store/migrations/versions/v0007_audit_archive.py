"""Archiving old audit rows: `audit_archive_cuts` records, per chain, the last row id an archive
moved to its file; the append-only triggers let a DELETE through only for rows at or below a
recorded cut (UPDATE and TRUNCATE stay refused), so nothing but `guard audit archive` removes rows.

Revision ID: 0007_audit_archive
Revises: 0006_account_disabled
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_audit_archive"
down_revision: str | None = "0006_account_disabled"
branch_labels: str | None = None
depends_on: str | None = None

SQLITE_DELETE_GUARD = """CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
    WHEN NOT EXISTS (
        SELECT 1 FROM audit_archive_cuts c WHERE c.chain = OLD.chain AND OLD.id <= c.last_id
    )
    BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: DELETE rejected'); END"""
SQLITE_PLAIN_GUARD = """CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
    BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: DELETE rejected'); END"""
POSTGRES_FUNCTION = """CREATE OR REPLACE FUNCTION guard_audit_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' AND EXISTS (
            SELECT 1 FROM audit_archive_cuts c WHERE c.chain = OLD.chain AND OLD.id <= c.last_id
        ) THEN
            RETURN OLD;
        END IF;
        RAISE EXCEPTION 'audit_events is append-only: % rejected', TG_OP;
    END
    $$"""
POSTGRES_PLAIN_FUNCTION = """CREATE OR REPLACE FUNCTION guard_audit_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit_events is append-only: % rejected', TG_OP;
    END
    $$"""


def upgrade() -> None:
    op.create_table(
        "audit_archive_cuts",
        sa.Column("chain", sa.String(120), primary_key=True),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_delete")
        op.execute(SQLITE_DELETE_GUARD)
    elif dialect == "postgresql":
        op.execute(POSTGRES_FUNCTION)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_delete")
        op.execute(SQLITE_PLAIN_GUARD)
    elif dialect == "postgresql":
        op.execute(POSTGRES_PLAIN_FUNCTION)
    op.drop_table("audit_archive_cuts")
