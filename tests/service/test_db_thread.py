"""The database thread's bound counts a call's own running time, never its time in the queue:
many short calls queued behind each other never cut a connection; one call running past the
bound does."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from guard.service.db_thread import DatabaseThread


async def test_run_when_short_calls_queue_past_the_bound_then_nothing_is_interrupted() -> None:
    cuts: list[float] = []
    thread = DatabaseThread(bound=0.1, interrupt=lambda: cuts.append(time.monotonic()))
    try:
        # 12 calls of 40 ms each: the last waits ~0.45 s in the queue, each runs well inside 0.1 s
        results = await asyncio.gather(*(thread.run(time.sleep, 0.04) for _ in range(12)))
    finally:
        thread.close()
    assert results == [None] * 12
    assert cuts == []


async def test_run_when_one_call_runs_past_the_bound_then_connections_are_cut() -> None:
    cuts: list[float] = []
    thread = DatabaseThread(bound=0.1, interrupt=lambda: cuts.append(time.monotonic()))
    began = time.monotonic()
    try:
        await thread.run(time.sleep, 0.35)
    finally:
        thread.close()
    assert cuts, "a call hung past its bound was never interrupted"
    assert cuts[0] - began >= 0.09  # not before the call had run for the bound


async def test_run_when_many_calls_finish_while_the_loop_is_busy_then_one_wake_up_answers_them() -> (
    None
):
    # the hand-off's cost (issue 17): answers ready together reach the loop with one wake-up,
    # not one loop callback per call
    loop = asyncio.get_running_loop()
    wake_ups: list[object] = []
    original = loop.call_soon_threadsafe

    def counted(callback: Any, *args: Any, **kwargs: Any) -> Any:
        wake_ups.append(callback)
        return original(callback, *args, **kwargs)

    thread = DatabaseThread(bound=5.0, interrupt=lambda: None)
    finished = threading.Event()
    calls = 50

    def call(index: int) -> int:
        if index == calls - 1:
            finished.set()
        return index

    loop.call_soon_threadsafe = counted  # type: ignore[method-assign]
    try:
        waiting = asyncio.gather(*(thread.run(call, i) for i in range(calls)))
        await asyncio.sleep(0)  # every call queued
        assert finished.wait(5)  # the loop is busy (blocked here) while the worker answers all
        assert await waiting == list(range(calls))
    finally:
        loop.call_soon_threadsafe = original  # type: ignore[method-assign]
        thread.close()
    assert 1 <= len(wake_ups) <= 2, f"{len(wake_ups)} wake-ups for {calls} answers"
