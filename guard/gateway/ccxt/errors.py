"""ccxt and transport exceptions translated into the gateway error families of guard.gateway.base;
pure. Invariant: the one place errors are translated, with secret values redacted."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from ccxt.base import errors as ccxt_errors

from guard.gateway.base import (
    GatewayError,
    OrderRejected,
    PermanentError,
    TemporaryError,
    UnknownOrderOutcome,
)

_PERMANENT = (
    ccxt_errors.AuthenticationError,
    ccxt_errors.PermissionDenied,
    ccxt_errors.AccountSuspended,
    ccxt_errors.NotSupported,
    ccxt_errors.ArgumentsRequired,
    ccxt_errors.BadSymbol,
)
_REJECTED = (
    ccxt_errors.InvalidOrder,
    ccxt_errors.InsufficientFunds,
    ccxt_errors.OrderNotFound,
    ccxt_errors.BadRequest,
)
_RATE_LIMITED = (ccxt_errors.RateLimitExceeded, ccxt_errors.DDoSProtection)


def translate(
    error: Exception, venue: str, what: str, *, write: bool, secrets: Sequence[str] = ()
) -> GatewayError:
    """The gateway error family of a ccxt (or transport) error, with secrets redacted."""
    message = redact(f"{venue} {what}: {type(error).__name__}: {error}", secrets)
    if isinstance(error, GatewayError):
        return error
    if isinstance(error, _RATE_LIMITED):
        return TemporaryError(message)  # refused before processing: nothing was placed
    if isinstance(error, ccxt_errors.NetworkError | asyncio.TimeoutError | OSError):
        # a timeout or lost connection on a write: the venue may have acted on it
        return UnknownOrderOutcome(message) if write else TemporaryError(message)
    if isinstance(error, _PERMANENT):
        return PermanentError(message)
    if isinstance(error, _REJECTED) or (write and isinstance(error, ccxt_errors.ExchangeError)):
        return OrderRejected(message) if write else PermanentError(message)
    if isinstance(error, ccxt_errors.ExchangeError):
        return TemporaryError(message)
    return PermanentError(message)


def redact(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text
