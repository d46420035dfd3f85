"""The Store's operator-facing refusals (bad request, no such lock, unknown account); plain
exceptions whose message says what is wrong."""

from __future__ import annotations


class StoreError(Exception):
    """An operator-facing refusal of the store; the message says what is wrong."""


class InvalidRequest(StoreError, ValueError):
    """A request that cannot be carried out as given (missing reason, bad scope, not active)."""


class LockNotFound(StoreError, LookupError):
    """No lock with that id."""


class UnknownAccount(StoreError, LookupError):
    """An account name no service has registered."""
