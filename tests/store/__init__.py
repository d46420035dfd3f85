"""Store tests: migrations, exact round-trips, audit chain, locks, requests, status (SQLite and PostgreSQL)."""
