"""The gateway's in-flight request slots per venue (not pure: asyncio futures): at most `capacity`
requests in flight, waiting protective work served first, and `reserve` more slots that only
protective work may take. Invariant: a protective request (a reduce-only order, a cancel, the
look-ups that resolve them) never waits for a slot held by routine work, because routine reads
can sit in their slots for a whole weight window (ccxt's throttle waits inside the request)."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from guard.gateway.ccxt.budget import PRIORITY_PROTECTIVE

_SHARED = 0  # a slot any work may take
_RESERVED = 1  # a slot only protective work may take


def protective_reserve(capacity: int) -> int:
    """Slots kept for protective work beside `capacity`: a quarter of it, at least 2."""
    return max(2, capacity // 4)


class PriorityGate:
    """At most `capacity` routine requests in flight (`capacity + reserve` with protective work);
    waiting protective work goes before routine work."""

    def __init__(self, capacity: int, reserve: int = 0) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        if reserve < 0:
            raise ValueError(f"reserve must not be negative, got {reserve}")
        self._free = capacity
        self._reserve_free = reserve
        self._waiting: list[tuple[int, int, asyncio.Future[int]]] = []
        self._order = itertools.count()
        self.closed = False  # a venue-wide cool-down: nothing starts until reopen()

    def close(self) -> None:
        """Start nothing more until `reopen` (requests in flight finish; waiters keep waiting)."""
        self.closed = True

    def reopen(self) -> None:
        """Hand the free slots to the waiters, protective work first."""
        self.closed = False
        free, self._free = self._free, 0
        reserved, self._reserve_free = self._reserve_free, 0
        for _ in range(reserved):
            self._release(_RESERVED)
        for _ in range(free):
            self._release(_SHARED)

    @asynccontextmanager
    async def slot(self, priority: int) -> AsyncIterator[None]:
        kind = await self._acquire(priority)
        try:
            yield
        finally:
            self._release(kind)

    async def _acquire(self, priority: int) -> int:
        if not self.closed:
            if self._free > 0 and not self._waiting:
                self._free -= 1
                return _SHARED
            if priority <= PRIORITY_PROTECTIVE and self._reserve_free > 0:
                self._reserve_free -= 1
                return _RESERVED
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (priority, next(self._order), future))
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._release(future.result())  # handed over just as we were cancelled
            raise

    def _release(self, kind: int) -> None:
        while self._waiting and not self.closed:
            priority, _, future = self._waiting[0]
            if kind == _RESERVED and priority > PRIORITY_PROTECTIVE:
                break  # a reserved slot goes back to the reserve, never to routine work
            heapq.heappop(self._waiting)
            if not future.done():
                future.set_result(kind)
                return
        if kind == _RESERVED:
            self._reserve_free += 1
        else:
            self._free += 1
