"""`guard run` (the real CLI entry point) with trouble forced on it, for test_logs: a venue read
through ccxt that fails and is retried (connection refused on a local port), scheduler skips (slow
ticks), a missed run time (the event loop blocked between a job's submission and its start, longer
than the config's misfire_grace), an aiohttp session left open, a Python warning.

Usage: python -m tests.service.noisy_run CONFIG"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
import warnings
from typing import Any

import aiohttp
from apscheduler.executors.asyncio import AsyncIOExecutor

from guard.core.venues.ccxt_options import ccxt_venue
from guard.gateway.base import TemporaryError
from guard.gateway.ccxt.clients import GatewaySettings, make_client
from guard.gateway.ccxt.session import CcxtSession
from guard.operator.cli import main
from guard.service.runner import Runner
from guard.service.tick import GuardService

SLOW_TICKS = 5  # the first ticks take longer than the poll interval: APScheduler skips runs


async def _venue_retry() -> None:
    settings = GatewaySettings(
        api_base="http://127.0.0.1:9", read_attempts=3, backoff_base=0.01, backoff_max=0.02
    )
    session = CcxtSession("binance", [], settings=settings)
    client = make_client(ccxt_venue("binance"), None, settings)
    try:
        await session._read("fetch_time", client.fetch_time)
    except TemporaryError:
        pass
    finally:
        await client.close()


async def _leaked_aiohttp_session() -> None:
    session = aiohttp.ClientSession()
    del session
    gc.collect()  # aiohttp reports "Unclosed client session" through asyncio's logger


def _patch() -> None:
    run, tick, submit = Runner.run, GuardService.tick, AsyncIOExecutor._do_submit_job
    slow = {"left": SLOW_TICKS}
    blocked = {"done": False}

    async def noisy_run(self: Runner) -> int:
        loop = asyncio.get_running_loop()
        pending = {loop.create_task(_venue_retry()), loop.create_task(_leaked_aiohttp_session())}
        warnings.warn("a library's deprecation", DeprecationWarning, stacklevel=1)
        code = await run(self)
        await asyncio.gather(*pending)
        return code

    async def slow_tick(self: GuardService, account: str) -> Any:
        if slow["left"] > 0:
            slow["left"] -= 1
            await asyncio.sleep(0.3)
        return await tick(self, account)

    def blocking_submit(self: AsyncIOExecutor, job: Any, run_times: Any) -> Any:
        started = submit(self, job, run_times)
        if not blocked["done"] and job.id.startswith("tick:") and slow["left"] == 0:
            blocked["done"] = True
            time.sleep(2.5)  # the loop is blocked: "Run time of job … was missed by 0:00:02.5"
        return started

    AsyncIOExecutor._do_submit_job = blocking_submit  # type: ignore[method-assign]
    Runner.run = noisy_run  # type: ignore[method-assign]
    GuardService.tick = slow_tick  # type: ignore[method-assign]


if __name__ == "__main__":
    warnings.simplefilter("always")
    _patch()
    sys.argv = ["guard", "run", "--config", sys.argv[1]]
    main()
