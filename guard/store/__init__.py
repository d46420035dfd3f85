"""Persistence: SQLModel tables, the Store API and migrations; the only package using a database."""

from guard.store.audit_chain import StoredEvent
from guard.store.errors import (
    DatabaseUnreachable,
    InvalidRequest,
    LockNotFound,
    StoreError,
    UnknownAccount,
)
from guard.store.intent_records import StoredIntent
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
from guard.store.store import Store
from guard.store.tokens import Scope, StoredToken

__all__ = [
    "AccountInfo",
    "AccountStatus",
    "DatabaseUnreachable",
    "InvalidRequest",
    "LockNotFound",
    "LockScope",
    "RequestStatus",
    "SchemaNotReady",
    "Scope",
    "Store",
    "StoreError",
    "StoredAccount",
    "StoredEvent",
    "StoredIntent",
    "StoredLock",
    "StoredRequest",
    "StoredToken",
    "UnknownAccount",
]
