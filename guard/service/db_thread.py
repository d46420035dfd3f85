"""The one thread that talks to the database for the service, so the event loop never waits on
it: every store call of a tick is awaited through `DatabaseThread.run` (I/O; one call at a time,
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
    """A single worker thread for store calls, started on first use."""

    __slots__ = ("_pool",)

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None

    async def run(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`call(*args, **kwargs)` on the database thread; the loop goes on meanwhile."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="guard-db")
        loop = asyncio.get_running_loop()
        bound: Callable[[], Any] = partial(call, *args, **kwargs)
        result: T = await loop.run_in_executor(self._pool, bound)
        return result

    def close(self) -> None:
        """Wait for the call in progress, then stop the thread."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
