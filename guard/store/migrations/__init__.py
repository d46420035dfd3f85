"""Alembic migrations of the guard's database, run in code by guard.store.migrate (no alembic.ini)."""
