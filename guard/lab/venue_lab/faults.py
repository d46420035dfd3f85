"""Fault injection on the venue lab's wire, configured per lab instance: latency, timeouts before
and after the venue accepts, connection reset after accept, 5xx storms, partial fills, stale and
contradictory payloads. Not pure (sleeps, drops connections). Invariant: a fault fires on at most
`times` matching requests, and "before accept" faults never let the order reach the book."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from enum import StrEnum


class FaultKind(StrEnum):
    """What goes wrong on the wire."""

    LATENCY = "latency"  # answer late (the venue acts at once)
    TIMEOUT_BEFORE_ACCEPT = "timeout_before_accept"  # hang, then drop; the venue never acted
    TIMEOUT_AFTER_ACCEPT = "timeout_after_accept"  # act, then hang past the client's timeout
    RESET_AFTER_ACCEPT = "reset_after_accept"  # act, then reset the connection unanswered
    HTTP_5XX = "http_5xx"  # an error status without acting (a storm with times > 1)
    PARTIAL_FILL = "partial_fill"  # fill only `fraction` of the order, the rest cancelled
    STALE = "stale"  # reads answer as of `stale_by` ago (old timestamps and prices)
    CONTRADICTORY = "contradictory"  # reads whose parts disagree (venue-specific)


@dataclass(slots=True)
class Fault:
    """One injected fault: on `venue` (None: any) and `operation` (None: any), `times` requests."""

    kind: FaultKind
    venue: str | None = None
    operation: str | None = None  # create_order, fetch_order, positions, account, markets, ...
    times: int = 1
    seconds: float = 0.0  # latency, or how long a timeout hangs
    status: int = 503
    fraction: Decimal = Decimal("0.5")
    stale_by: timedelta = timedelta(minutes=10)
    fired: int = 0

    def matches(self, venue: str, operation: str) -> bool:
        return (
            self.fired < self.times
            and (self.venue is None or self.venue == venue)
            and (self.operation is None or self.operation == operation)
        )


@dataclass(slots=True)
class FaultPlan:
    """The faults armed on one lab instance (tests add and clear them between steps)."""

    faults: list[Fault] = field(default_factory=list)

    def add(self, fault: Fault) -> Fault:
        self.faults.append(fault)
        return fault

    def clear(self) -> None:
        self.faults.clear()

    def take(self, venue: str, operation: str) -> list[Fault]:
        """The faults firing on this request (each counted once)."""
        firing = [f for f in self.faults if f.matches(venue, operation)]
        for fault in firing:
            fault.fired += 1
        return firing
