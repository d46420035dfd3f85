"""Persistence: SQLModel tables, the Store API and migrations; the only package using a database."""

from guard.store.store import Store, StoredEvent, StoredIntent

__all__ = ["Store", "StoredEvent", "StoredIntent"]
