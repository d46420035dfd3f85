"""Persistence: SQLModel tables, the Store API and migrations; the only package using a database."""

from guard.store.migrate import SchemaNotReady
from guard.store.records import (
    AccountInfo,
    AccountStatus,
    LockScope,
    RequestStatus,
    StoredAccount,
    StoredLock,
    StoredRequest,
)
from guard.store.store import (
    InvalidRequest,
    LockNotFound,
    Store,
    StoredEvent,
    StoredIntent,
    StoreError,
    UnknownAccount,
)

__all__ = [
    "AccountInfo",
    "AccountStatus",
    "InvalidRequest",
    "LockNotFound",
    "LockScope",
    "RequestStatus",
    "SchemaNotReady",
    "Store",
    "StoreError",
    "StoredAccount",
    "StoredEvent",
    "StoredIntent",
    "StoredLock",
    "StoredRequest",
    "UnknownAccount",
]
