"""The threads that talk to the database for the service, so the event loop never waits on it,
and a call hung on an unanswering server is cut once it has RUN longer than a bound (time in the
queue does not count): every store call of a tick is awaited through `DatabaseThread.run` (I/O).
Each worker runs one call at a time, in order; an account's calls (those made inside
`routed(account)`, i.e. its tick) always go to the same worker, so they stay in order; calls
outside any account go to the first worker. One worker unless the runner asks for more
(PostgreSQL; the journaled store serializes its calls itself while on the journal).

Hand-off (issue 17): a call is queued to its worker as it is made, and the answers a worker has
ready reach the loop together, with one wake-up per batch (not one executor future, one
loop future and one wake-up per call): under load the worker answers many calls per wake-up,
and it never waits for the event loop's GIL to post each answer. A call whose awaiting task
was cancelled before the worker started it is not run (as with an executor)."""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import partial
from queue import SimpleQueue
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

# the account whose calls are being made (set by GuardService.tick for its task), else None
ROUTE: ContextVar[str | None] = ContextVar("guard_db_route", default=None)

# a queued call: the loop and future to answer, and the call; None stops the worker
_Job = tuple[asyncio.AbstractEventLoop, asyncio.Future[Any], Callable[[], Any]] | None


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


class _Worker:
    """One thread running its queued calls in order; answers are posted to their loop in
    batches (the first answer of a batch schedules the delivery, later ones join it)."""

    __slots__ = ("_lock", "_outbox", "jobs", "started", "thread")

    def __init__(self, name: str) -> None:
        self.jobs: SimpleQueue[_Job] = SimpleQueue()
        self.started: float | None = None  # monotonic start of the call running now
        self._lock = threading.Lock()
        self._outbox: dict[asyncio.AbstractEventLoop, list[tuple[Any, bool, Any]]] = {}
        self.thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        jobs = self.jobs
        while True:
            job = jobs.get()
            if job is None:
                return
            loop, future, call = job
            if future.cancelled():  # its task was cancelled while it was queued: not run
                continue
            self.started = time.monotonic()
            try:
                answer: tuple[Any, bool, Any] = (future, True, call())
            except BaseException as error:  # delivered to the awaiting task
                answer = (future, False, error)
            finally:
                self.started = None
            del job, call
            self._post(loop, answer)

    def _post(self, loop: asyncio.AbstractEventLoop, answer: tuple[Any, bool, Any]) -> None:
        with self._lock:
            waiting = self._outbox.get(loop)
            if waiting is not None:  # a delivery is already scheduled: it takes this one too
                waiting.append(answer)
                return
            self._outbox[loop] = [answer]
        try:
            loop.call_soon_threadsafe(self._deliver, loop)
        except RuntimeError:  # the loop is closed: nobody awaits the answer any more
            with self._lock:
                self._outbox.pop(loop, None)

    def _deliver(self, loop: asyncio.AbstractEventLoop) -> None:
        """On the loop: answer every future whose call has finished."""
        with self._lock:
            answers = self._outbox.pop(loop, ())
        for future, ok, value in answers:
            if future.done():  # cancelled meanwhile
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    def stop(self) -> None:
        """Stop after the calls queued so far, and wait for them."""
        self.jobs.put(None)
        if self.thread is not threading.current_thread():
            self.thread.join()


class DatabaseThread:
    """`workers` single-thread workers for store calls, each started on first use. With `bound`
    and `interrupt`, a call still running after `bound` seconds is interrupted (the store cuts
    its hung connections, so the call fails as an outage and the journaled store journals it)."""

    __slots__ = ("__weakref__", "_pending", "_watching", "_workers", "bound", "interrupt")

    def __init__(
        self,
        bound: float | None = None,
        interrupt: Callable[[], object] | None = None,
        workers: int = 1,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self._workers: list[_Worker | None] = [None] * workers
        self._pending = 0  # calls queued or running, awaited through `run` (the loop's count)
        self._watching = False  # a hang check is scheduled on the loop
        self.bound = bound
        self.interrupt = interrupt

    @property
    def workers(self) -> int:
        return len(self._workers)

    def _worker(self) -> _Worker:
        index = worker_of(ROUTE.get(), len(self._workers))
        worker = self._workers[index]
        if worker is None:
            worker = self._workers[index] = _Worker(f"guard-db-{index}_0")
            weakref.finalize(self, worker.jobs.put, None)  # forgotten unclosed: the thread ends
        return worker

    async def run(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`call(*args, **kwargs)` on the database worker of the account being ticked (see
        `routed`); the loop goes on meanwhile."""
        worker = self._worker()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        bound: Callable[[], Any] = partial(call, *args, **kwargs) if args or kwargs else call
        worker.jobs.put((loop, future, bound))
        self._pending += 1
        if self.bound is not None and self.interrupt is not None and not self._watching:
            self._watching = True
            loop.call_later(self._every(), self._watch, loop)
        try:
            return await future
        finally:
            self._pending -= 1

    def _every(self) -> float:
        assert self.bound is not None
        return max(0.01, min(0.1, self.bound / 10))

    def _watch(self, loop: asyncio.AbstractEventLoop) -> None:
        """On the loop while calls are outstanding: interrupt when a call has itself RUN past
        the bound (a blackholed server); a call still queued behind others is never a reason to
        cut the one running."""
        assert self.bound is not None and self.interrupt is not None
        now = time.monotonic()
        for worker in self._workers:
            started = worker.started if worker is not None else None
            if started is not None and now - started >= self.bound:
                self.interrupt()
                break
        running = any(w is not None and w.started is not None for w in self._workers)
        if self._pending > 0 or running:  # (a cancelled awaiter leaves its call running)
            loop.call_later(self._every(), self._watch, loop)
        else:
            self._watching = False

    def close(self) -> None:
        """Wait for the calls in progress, then stop the threads."""
        for index, worker in enumerate(self._workers):
            if worker is not None:
                worker.stop()
                self._workers[index] = None
