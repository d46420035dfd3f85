"""The Gateway protocol and the error families every gateway raises (translated once, here named)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from guard.core.domain import AccountSnapshot, OrderPlan, OrderResult
from guard.core.funding_ledger import FundingPayment
from guard.core.volatility import CandleSeries


class GatewayError(Exception):
    """Base of the gateway error families; the message names the venue and what went wrong."""


class TemporaryError(GatewayError):
    """Network trouble, rate limit or maintenance: retry with backoff."""


class RateLimited(TemporaryError):
    """The venue refused for rate (HTTP 429/418): a venue-wide cool-down of `retry_after` seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class OrderRejected(GatewayError):
    """The venue refused this order: record it, do not resend it this tick."""


class UnknownOrderOutcome(GatewayError):
    """The send may or may not have reached the venue (timeout): look it up by client id."""


class PermanentError(GatewayError):
    """Authentication, permission or configuration: alert and stop acting on that account."""


class UnsupportedAccountMode(PermanentError):
    """An account mode the guard does not model: refused (never misread) with venue, payload field,
    its value and what the guard supports."""

    def __init__(self, venue: str, field: str, value: object, meaning: str, supported: str) -> None:
        super().__init__(
            f"{venue}: unsupported account mode: {field} = {value!r} ({meaning}); "
            f"guard supports {supported}"
        )
        self.venue = venue
        self.field = field
        self.value = value


class Gateway(Protocol):
    """What the service needs from a venue connection for one or more accounts."""

    venue: str

    async def fetch_snapshot(self, account: str) -> AccountSnapshot:
        """Positions, balance and market data of `account` as the venue reports them now."""
        ...

    async def create_order(self, plan: OrderPlan) -> OrderResult:
        """Send one reduce-only order; raises OrderRejected, UnknownOrderOutcome, ..."""
        ...

    async def fetch_order(
        self, account: str, symbol: str, client_order_id: str
    ) -> OrderResult | None:
        """The order with this client id, or None when the venue has never seen it."""
        ...

    async def fetch_open_orders(self, account: str) -> list[OrderResult]: ...

    async def cancel_order(
        self, account: str, symbol: str, client_order_id: str
    ) -> OrderResult: ...

    async def close(self) -> None: ...


@runtime_checkable
class PositionReread(Protocol):
    """A gateway that re-reads one market's positions of an account (optional capability): the
    account's snapshot with `symbol`'s positions as the venue reports them now, in as few calls
    as the venue allows (the executor's read right before a send)."""

    async def fetch_position(self, account: str, symbol: str) -> AccountSnapshot: ...


async def reread_position(gateway: object, account: str, symbol: str) -> AccountSnapshot:
    """`symbol`'s positions of `account` read now: the gateway's one-position re-read when it
    has one, else a full snapshot."""
    if isinstance(gateway, PositionReread):
        return await gateway.fetch_position(account, symbol)
    snapshot: AccountSnapshot = await gateway.fetch_snapshot(account)  # type: ignore[attr-defined]
    return snapshot


class FundingHistoryUnavailable(GatewayError):
    """This gateway (or its venue) offers no history of the account's own funding payments."""


@runtime_checkable
class FundingHistory(Protocol):
    """A gateway that can list the funding an account paid or received (optional capability)."""

    async def fetch_funding_history(
        self, account: str, since: datetime
    ) -> list[FundingPayment]: ...


async def funding_history(gateway: object, account: str, since: datetime) -> list[FundingPayment]:
    """The account's funding payments since `since`; FundingHistoryUnavailable when the gateway
    has no such capability (e.g. a venue whose funding payments ccxt does not unify)."""
    if not isinstance(gateway, FundingHistory):
        venue = getattr(gateway, "venue", type(gateway).__name__)
        raise FundingHistoryUnavailable(f"{venue}: no funding history through this gateway")
    return await gateway.fetch_funding_history(account, since)


@runtime_checkable
class MarkCandles(Protocol):
    """A gateway that can fetch candles of a market's mark price (or of its documented proxy,
    flagged `mark=False`), oldest first (optional capability)."""

    async def fetch_mark_candles(
        self, symbol: str, timeframe: timedelta, bars: int
    ) -> CandleSeries: ...
