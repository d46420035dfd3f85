"""The one thread that talks to the database for the service, so the event loop never waits on
it, and a call hung on an unanswering server is cut once it has RUN longer than a bound (time in
the queue does not count): every store call of a tick is awaited through `DatabaseThread.run`
(I/O; one call at a time, in order, which also keeps the journaled store's state single-threaded)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class DatabaseThread:
    """A single worker thread for store calls, started on first use. With `bound` and
    `interrupt`, a call still running after `bound` seconds is interrupted (the store cuts its
    hung connections, so the call fails as an outage and the journaled store journals it)."""

    __slots__ = ("_pool", "bound", "interrupt")

    def __init__(
        self, bound: float | None = None, interrupt: Callable[[], object] | None = None
    ) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self.bound = bound
        self.interrupt = interrupt

    async def run(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`call(*args, **kwargs)` on the database thread; the loop goes on meanwhile."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="guard-db")
        loop = asyncio.get_running_loop()
        bound: Callable[[], Any] = partial(call, *args, **kwargs)
        if self.bound is None or self.interrupt is None:
            result: T = await loop.run_in_executor(self._pool, bound)
            return result
        began: list[float] = []  # when the worker started THIS call (not when it was queued)

        def timed() -> Any:
            began.append(time.monotonic())
            return bound()

        future = loop.run_in_executor(self._pool, timed)
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
        """Wait for the call in progress, then stop the thread."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
