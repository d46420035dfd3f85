"""Initial schema: audit events (append-only, enforced by triggers), order intents, guard state,
override locks, accounts and operator requests.

Revision ID: 0001_initial
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

# Column storage mirrors guard.store.types: Decimal as exact text, time as UTC microseconds.
DECIMAL = sa.String(64)
MICROS = sa.BigInteger()

SQLITE_TRIGGERS = (
    """CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
    BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: UPDATE rejected'); END""",
    """CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
    BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: DELETE rejected'); END""",
)
POSTGRES_TRIGGERS = (
    """CREATE FUNCTION guard_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit_events is append-only: % rejected', TG_OP;
    END
    $$""",
    """CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION guard_audit_append_only()""",
    """CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION guard_audit_append_only()""",
)


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("at", MICROS, nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("account", sa.String(120)),
        sa.Column("symbol", sa.String(80)),
        sa.Column("rule_id", sa.String(80)),
        sa.Column("tick_id", sa.String(80)),
        sa.Column("fingerprint", sa.String(64)),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("client_order_id", sa.String(80)),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    op.create_index("ix_audit_events_kind", "audit_events", ["kind"])
    op.create_index("ix_audit_account_id", "audit_events", ["account", "id"])

    op.create_table(
        "order_intents",
        sa.Column("client_order_id", sa.String(80), primary_key=True),
        sa.Column("account", sa.String(120), nullable=False),
        sa.Column("symbol", sa.String(80), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("position_side", sa.String(8), nullable=False),
        sa.Column("margin_mode", sa.String(10), nullable=False),
        sa.Column("order_type", sa.String(12), nullable=False),
        sa.Column("quantity", DECIMAL, nullable=False),
        sa.Column("limit_price", DECIMAL),
        sa.Column("reduce_only", sa.Boolean(), nullable=False),
        sa.Column("hedged", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("filled_quantity", DECIMAL, nullable=False),
        sa.Column("average_price", DECIMAL),
        sa.Column("fee", DECIMAL, nullable=False),
        sa.Column("venue_order_id", sa.String(120)),
        sa.Column("rule_ids", sa.Text(), nullable=False),
        sa.Column("steps", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("tick_id", sa.String(80)),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("created_at", MICROS, nullable=False),
        sa.Column("updated_at", MICROS, nullable=False),
    )
    op.create_index("ix_intent_account_status", "order_intents", ["account", "status"])

    op.create_table(
        "guard_state",
        sa.Column("account", sa.String(120), primary_key=True),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("last_tick_id", sa.String(80)),
        sa.Column("last_tick_at", MICROS),
        sa.Column("updated_at", MICROS, nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
    )

    op.create_table(
        "override_locks",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("scope", sa.String(10), nullable=False),
        sa.Column("account", sa.String(120)),
        sa.Column("market", sa.String(80)),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("created_at", MICROS, nullable=False),
        sa.Column("expires_at", MICROS),
        sa.Column("cleared_at", MICROS),
        sa.Column("cleared_by", sa.String(120)),
        sa.Column("clear_reason", sa.Text()),
    )
    op.create_index("ix_override_locks_account", "override_locks", ["account"])

    op.create_table(
        "accounts",
        sa.Column("name", sa.String(120), primary_key=True),
        sa.Column("venue", sa.String(40), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("poll_interval", DECIMAL, nullable=False),
        sa.Column("registered_at", MICROS, nullable=False),
        sa.Column("last_seen_at", MICROS),
    )

    op.create_table(
        "operator_requests",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("account", sa.String(120), nullable=False),
        sa.Column("market", sa.String(80)),
        sa.Column("fraction", DECIMAL, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("created_at", MICROS, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("outcome", sa.Text()),
        sa.Column("completed_at", MICROS),
    )
    op.create_index("ix_request_account_status", "operator_requests", ["account", "status"])

    dialect = op.get_bind().dialect.name
    for statement in {"sqlite": SQLITE_TRIGGERS, "postgresql": POSTGRES_TRIGGERS}.get(dialect, ()):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events")
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS guard_audit_append_only()")
    for table in (
        "operator_requests",
        "accounts",
        "override_locks",
        "guard_state",
        "order_intents",
        "audit_events",
    ):
        op.drop_table(table)
