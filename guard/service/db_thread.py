"""The threads that talk to the database for the service, so the event loop never waits on it,
and a call hung on an unanswering server is cut once it has RUN longer than a bound (time in the
queue does not count): every store call of a tick is awaited through `DatabaseThread.run` (I/O).
Each worker runs one call at a time, in order; an account's calls (those made inside
`routed(account)`, i.e. its tick) always go to the same worker, so they stay in order; calls
outside any account go to the first worker. One worker unless the runner asks for more
(PostgreSQL; the journaled store serializes its calls itself while on the journal)."""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from functools import partial
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

# the account whose calls are being made (set by GuardService.tick for its task), else None
ROUTE: ContextVar[str | None] = ContextVar("guard_db_route", default=None)


@contextmanager
def routed(account: str) -> Iterator[None]:
    """Store calls made inside the block (in this task) run on `account`'s worker."""
    token = ROUTE.set(account)
    try:
        yield
    finally:
        ROUTE.reset(token)


def worker_of(account: str | None, workers: int) -> int:
    """The worker index of `account`'s calls: stable (crc32), the first for no account."""
    if account is None or workers == 1:
        return 0
    return zlib.crc32(account.encode()) % workers


class DatabaseThread:
    """`workers` single-thread workers for store calls, each started on first use. With `bound`
    and `interrupt`, a call still running after `bound` seconds is interrupted (the store cuts
    its hung connections, so the call fails as an outage and the journaled store journals it)."""

    __slots__ = ("_pools", "bound", "interrupt")

    def __init__(
        self,
        bound: float | None = None,
        interrupt: Callable[[], object] | None = None,
        workers: int = 1,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self._pools: list[ThreadPoolExecutor | None] = [None] * workers
        self.bound = bound
        self.interrupt = interrupt

    @property
    def workers(self) -> int:
        return len(self._pools)

    def _pool(self) -> ThreadPoolExecutor:
        index = worker_of(ROUTE.get(), len(self._pools))
        pool = self._pools[index]
        if pool is None:
            pool = self._pools[index] = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix=f"guard-db-{index}"
            )
        return pool

    async def run(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`call(*args, **kwargs)` on the database worker of the account being ticked (see
        `routed`); the loop goes on meanwhile."""
        pool = self._pool()
        loop = asyncio.get_running_loop()
        bound: Callable[[], Any] = partial(call, *args, **kwargs)
        if self.bound is None or self.interrupt is None:
            result: T = await loop.run_in_executor(pool, bound)
            return result
        began: list[float] = []  # when the worker started THIS call (not when it was queued)

        def timed() -> Any:
            began.append(time.monotonic())
            return bound()

        future = loop.run_in_executor(pool, timed)
        limit = self.bound
        while True:
            wait = limit if not began else max(0.01, began[0] + limit - time.monotonic())
            done, _ = await asyncio.wait({future}, timeout=wait)
            if done:
                break
            if began and time.monotonic() - began[0] >= limit:
                # this call itself has run past the bound (a blackholed server): cut the
                # connections so it fails as an outage; a call still queued behind others
                # is never a reason to cut the one running
                self.interrupt()
        answer: T = future.result()
        return answer

    def close(self) -> None:
        """Wait for the calls in progress, then stop the threads."""
        for index, pool in enumerate(self._pools):
            if pool is not None:
                pool.shutdown(wait=True)
                self._pools[index] = None
