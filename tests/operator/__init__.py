"""CLI tests of the operator commands on SQLite and PostgreSQL."""
