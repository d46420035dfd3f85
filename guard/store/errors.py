"""The Store's operator-facing refusals and outage error; plain exceptions saying what is wrong."""

from __future__ import annotations


class StoreError(Exception):
    """An operator-facing refusal of the store; the message says what is wrong."""


class InvalidRequest(StoreError, ValueError):
    """A request that cannot be carried out as given (missing reason, bad scope, not active)."""


class LockNotFound(StoreError, LookupError):
    """No lock with that id."""


class UnknownAccount(StoreError, LookupError):
    """An account name no service has registered."""


class DatabaseUnreachable(Exception):
    """The database cannot be reached or opened (connection refused, file not openable, dropped
    connection); `where` is its URL with any password hidden, `reason` the driver's first line."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"database unreachable at {where}: {reason}")
        self.where = where
        self.reason = reason
