"""The dead-man switch: while the guard is healthy (every account ticked, /health ok) it GETs a
configured URL (healthchecks.io style) every interval, so something outside notices when the
guard dies or stops guarding. I/O (HTTP); a failed ping is logged, never raised, and the URL
(which often embeds a secret) is never logged."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import aiohttp

from guard.service.logs import logger
from guard.service.metrics import Health

PING_TIMEOUT = 10.0


class Heartbeat:
    """Pings `url` every `every` while `health` is ok; start() and stop() in the service loop."""

    def __init__(self, url: str, every: timedelta, health: Health) -> None:
        self.url = url
        self.every = every.total_seconds()
        self.health = health
        self.pings = 0  # successful pings
        self.skipped = 0  # beats skipped because the guard was not healthy
        self.failures = 0
        self._task: asyncio.Task[None] | None = None
        self.log = logger(service="heartbeat")

    def healthy(self) -> bool:
        ok, _ = self.health.status()
        ticked = all(name in self.health.last_success for name in self.health.intervals)
        return ok and ticked

    async def beat(self, http: aiohttp.ClientSession) -> bool:
        """One beat: ping when healthy; True when the ping was answered with 2xx."""
        if not self.healthy():
            self.skipped += 1
            return False
        try:
            timeout = aiohttp.ClientTimeout(total=PING_TIMEOUT)
            async with http.get(self.url, timeout=timeout) as reply:
                if 200 <= reply.status < 300:
                    self.pings += 1
                    return True
                self.failures += 1
                self.log.warning("heartbeat_failed", status=reply.status)
        except (aiohttp.ClientError, TimeoutError) as error:
            self.failures += 1
            self.log.warning("heartbeat_failed", error=type(error).__name__)
        return False

    async def _run(self) -> None:
        async with aiohttp.ClientSession() as http:
            while True:
                await self.beat(http)
                await asyncio.sleep(self.every)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
