"""ccxt and transport exceptions translated into the gateway error families of guard.gateway.base;
pure. Invariant: the one place errors are translated, with secret values redacted."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from ccxt.base import errors as ccxt_errors

from guard.gateway.base import (
    GatewayError,
    OrderRejected,
    PermanentError,
    RateLimited,
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
RATE_LIMIT_ERRORS = (ccxt_errors.RateLimitExceeded, ccxt_errors.DDoSProtection)
# fapi answers -2015 to a portfolio-margin account too (JKorf/Binance.Net#1485): say so
BINANCE_PM_HINT = (
    " (Binance gives this answer on /fapi for a portfolio-margin account as well: guard supports "
    "USDⓈ-M accounts outside portfolio margin; otherwise check the key, its IP list and the "
    "futures permission)"
)
DEFAULT_BAN_SECONDS = 120.0  # HTTP 418 (ccxt DDoSProtection) without Retry-After
DEFAULT_RATE_LIMIT_SECONDS = 10.0  # HTTP 429 without Retry-After


def translate(
    error: Exception,
    venue: str,
    what: str,
    *,
    write: bool,
    secrets: Sequence[str] = (),
    headers: Mapping[str, str] | None = None,
) -> GatewayError:
    """The gateway error family of a ccxt (or transport) error, with secrets redacted; a 429/418
    becomes RateLimited carrying the response's Retry-After (seconds) or a default."""
    message = redact(f"{venue} {what}: {type(error).__name__}: {error}", secrets)
    if isinstance(error, GatewayError):
        return error
    if isinstance(error, RATE_LIMIT_ERRORS):  # refused before processing: nothing was placed
        return RateLimited(message, retry_after(error, headers))
    if isinstance(error, ccxt_errors.NetworkError | asyncio.TimeoutError | OSError):
        # a timeout or lost connection on a write: the venue may have acted on it
        return UnknownOrderOutcome(message) if write else TemporaryError(message)
    if isinstance(error, _PERMANENT):
        if venue == "binance" and '"code":-2015' in message.replace(" ", ""):
            message += BINANCE_PM_HINT
        return PermanentError(message)
    if isinstance(error, _REJECTED) or (write and isinstance(error, ccxt_errors.ExchangeError)):
        return OrderRejected(message) if write else PermanentError(message)
    if isinstance(error, ccxt_errors.ExchangeError):
        return TemporaryError(message)
    return PermanentError(message)


def retry_after(error: Exception, headers: Mapping[str, str] | None) -> float:
    """Seconds from a Retry-After header (delta-seconds form), else the default for the kind."""
    for name, value in (headers or {}).items():
        if name.lower() == "retry-after":
            try:
                seconds = float(str(value).strip())
            except ValueError:
                break
            if seconds >= 0:
                return seconds
    if isinstance(error, ccxt_errors.RateLimitExceeded):  # a subclass of DDoSProtection
        return DEFAULT_RATE_LIMIT_SECONDS
    return DEFAULT_BAN_SECONDS


def redact(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text
