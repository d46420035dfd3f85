"""Venue-wide market data shared by every account of one ccxt gateway for one epoch (a plain
cache value: no I/O; the session fetches into it)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any


@dataclass(slots=True)
class MarketDataCache:
    """Venue-wide market data (funding, mark/index, top of book) kept for one epoch.

    Every account on the venue reads from the same cache; a lock makes concurrent snapshots of
    one epoch share a single fetch.
    """

    ttl: timedelta
    fetched_at: datetime | None = None
    funding_rates: dict[str, Any] = field(default_factory=dict)
    order_books: dict[str, Any] = field(default_factory=dict)
    markets: dict[str, Any] = field(default_factory=dict)  # venues that carry prices in markets
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    fetches: int = 0

    def fresh(self, now: datetime, symbols: Sequence[str]) -> bool:
        return (
            self.fetched_at is not None
            and now - self.fetched_at < self.ttl
            and all(symbol in self.order_books for symbol in symbols)
        )
