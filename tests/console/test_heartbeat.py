"""The dead-man switch: pings a local server while the guard is healthy, none while it is not,
and a running paper service pings on its own."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from guard.service.heartbeat import Heartbeat
from guard.service.logs import configure
from guard.service.metrics import Health
from guard.service.runner import Runner
from tests.service.helpers import POLICY


@pytest.fixture(autouse=True)
def _quiet_logs() -> None:
    configure(stream=open(os.devnull, "w"))  # noqa: SIM115


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[str]]]:
    seen: list[str] = []

    async def ping(request: web.Request) -> web.Response:
        seen.append(request.path)
        return web.Response(text="OK")

    app = web.Application()
    app.router.add_get("/ping/{uuid}", ping)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/ping/abc-123", seen
    await runner.cleanup()


async def test_beat_when_healthy_then_pinged_when_degraded_or_not_ticked_then_not(
    receiver: tuple[str, list[str]],
) -> None:
    url, seen = receiver
    health = Health()
    health.intervals["a"] = 5.0
    beat = Heartbeat(url, timedelta(minutes=1), health)
    async with aiohttp.ClientSession() as http:
        assert not await beat.beat(http)  # never ticked yet
        health.succeeded("a")
        assert await beat.beat(http)
        health.degrade("a", "venue", "venue unreachable")
        assert not await beat.beat(http)
    assert seen == ["/ping/abc-123"]
    assert (beat.pings, beat.skipped) == (1, 2)


async def test_beat_when_receiver_down_then_counted_never_raised() -> None:
    health = Health()
    beat = Heartbeat("http://127.0.0.1:9/ping", timedelta(minutes=1), health)
    async with aiohttp.ClientSession() as http:
        assert not await beat.beat(http)
    assert beat.failures == 1


async def test_service_when_heartbeat_configured_then_pings_while_guarding(
    tmp_path: Path, receiver: tuple[str, list[str]]
) -> None:
    url, seen = receiver
    path = tmp_path / "guard.yaml"
    path.write_text(
        f"""
version: 1
service:
  database_url: sqlite:///{tmp_path / "guard.db"}
  create_schema: true
  console:
    heartbeat_url: {url}
    heartbeat_every: 0.1s
accounts:
  - name: sim
    venue: paper
    speed: 60
    policies: [{POLICY}]
    poll_interval: 0.1s
"""
    )
    runner = Runner(path, install_signals=False)
    task = asyncio.create_task(runner.run())
    deadline = time.monotonic() + 20
    try:
        while len(seen) < 3:
            assert time.monotonic() < deadline, f"only {len(seen)} ping(s)"
            await asyncio.sleep(0.05)
    finally:
        runner.request_stop()
        await asyncio.wait_for(task, 30)
    count = len(seen)
    await asyncio.sleep(0.3)
    assert len(seen) == count  # a stopped guard stops pinging
