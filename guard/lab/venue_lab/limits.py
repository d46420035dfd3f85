"""Request weights and rate limits of the venue lab, per venue and client IP, over the wall clock:
beyond the budget a venue answers 429 with Retry-After, and Binance bans (418, longer
Retry-After) an IP that keeps sending after a 429. Not pure (wall clock)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Budget:
    """`weight` units per `window` seconds; `ban` seconds once a 429 was ignored (0: no bans)."""

    weight: int
    window: float = 60.0
    ban: float = 0.0


# Defaults from the venues' published limits (each venue module cites its page):
# Binance USDⓈ-M 2400 request weight per minute per IP and 418 bans for ignored 429s;
# Hyperliquid 1200 weight per minute per IP; Bybit 600 requests per 5 s per IP;
# OKX 20 requests per 2 s on most endpoints (per user; one user per lab account here);
# dYdX indexer 100 requests per 10 s per IP (its public rate limits).
DEFAULT_BUDGETS = {
    "binance": Budget(2400, 60.0, ban=120.0),
    "hyperliquid": Budget(1200, 60.0),
    "bybit": Budget(600, 5.0),
    "okx": Budget(20, 2.0),
    "dydx": Budget(100, 10.0),
}


@dataclass(slots=True)
class Verdict:
    allowed: bool
    status: int = 200  # 429 or 418 when refused
    retry_after: int = 0  # whole seconds


@dataclass(slots=True)
class RateLimiter:
    budgets: dict[str, Budget] = field(default_factory=lambda: dict(DEFAULT_BUDGETS))
    clock: Callable[[], float] = time.monotonic
    _spent: dict[tuple[str, str], deque[tuple[float, int]]] = field(default_factory=dict)
    _limited: dict[tuple[str, str], float] = field(default_factory=dict)  # until (429)
    _banned: dict[tuple[str, str], float] = field(default_factory=dict)  # until (418)
    used: dict[str, int] = field(default_factory=dict)  # weight in the window, per venue

    def charge(self, venue: str, ip: str, weight: int) -> Verdict:
        budget = self.budgets.get(venue)
        if budget is None:
            return Verdict(True)
        key, now = (venue, ip), self.clock()
        banned = self._banned.get(key, 0.0)
        if now < banned:
            return Verdict(False, 418, _ceil(banned - now))
        limited = self._limited.get(key, 0.0)
        if now < limited:
            if budget.ban > 0:  # kept sending after a 429: banned, and the ban is the answer
                self._banned[key] = now + budget.ban
                return Verdict(False, 418, _ceil(budget.ban))
            return Verdict(False, 429, _ceil(limited - now))
        spent = self._spent.setdefault(key, deque())
        while spent and spent[0][0] <= now - budget.window:
            spent.popleft()
        total = sum(w for _, w in spent)
        if total + weight > budget.weight:
            until = spent[0][0] + budget.window if spent else now + budget.window
            self._limited[key] = until
            return Verdict(False, 429, _ceil(until - now))
        spent.append((now, weight))
        self.used[venue] = total + weight
        return Verdict(True)


def _ceil(seconds: float) -> int:
    return max(int(seconds + 0.999), 1)
