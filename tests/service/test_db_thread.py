"""The database thread's bound counts a call's own running time, never its time in the queue:
many short calls queued behind each other never cut a connection; one call running past the
bound does."""

from __future__ import annotations

import asyncio
import time

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
