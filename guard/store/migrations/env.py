"""Alembic environment: runs on the connection guard.store.migrate passes in `attributes`."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import guard.store.tables  # noqa: F401  (registers the tables on SQLModel.metadata)


def run() -> None:
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError(
            "guard's migrations run through guard.store.migrate (`guard db upgrade`), "
            "which passes an open connection; the alembic command line is not supported"
        )
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
