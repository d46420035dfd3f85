"""The one thread that talks to the database for the service, so the event loop never waits on
it (and a call hung on an unanswering server is cut after a bound): every store call of a tick is awaited through `DatabaseThread.run` (I/O; one call at a time,
in order, which also keeps the journaled store's in-memory state single-threaded)."""

from __future__ import annotations

import asyncio
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
        future = loop.run_in_executor(self._pool, bound)
        if self.bound is None or self.interrupt is None:
            result: T = await future
            return result
        done, _ = await asyncio.wait({future}, timeout=self.bound)
        while not done:  # hung (a blackholed server): cut its connections, wait again
            self.interrupt()
            done, _ = await asyncio.wait({future}, timeout=self.bound)
        answer: T = future.result()
        return answer

    def close(self) -> None:
        """Wait for the call in progress, then stop the thread."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
