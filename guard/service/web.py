"""The service's one HTTP server (aiohttp, in the service's event loop): /health (never
authenticated), /metrics (a console token when configured) and whatever the operator's
console adds. Binds loopback unless configured; request headers (tokens) are never logged."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from guard.service.metrics import Metrics
from guard.store import Store

Extension = Callable[[web.Application], None]


def bearer(request: web.Request) -> str | None:
    """The secret of an `Authorization: Bearer SECRET` header, if any (never logged)."""
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    return secret.strip() or None if scheme.lower() == "bearer" else None


@dataclass
class WebEndpoint:
    """One aiohttp application served on one or more (host, port) sites."""

    metrics: Metrics
    store: Store | None = None  # to check tokens on /metrics
    metrics_need_token: bool = False
    extensions: list[Extension] = field(default_factory=list)
    runner: web.AppRunner | None = None
    bound: list[tuple[str, int]] = field(default_factory=list)

    def application(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/health", self._health)
        app.router.add_get("/metrics", self._metrics)
        for extend in self.extensions:
            extend(app)
        return app

    async def start(self) -> None:
        self.runner = web.AppRunner(self.application(), access_log=None)
        await self.runner.setup()

    async def serve(self, port: int, host: str = "127.0.0.1") -> tuple[str, int]:
        """Serve on (host, port) too (port 0: any free port); returns the bound address."""
        if self.runner is None:
            await self.start()
        assert self.runner is not None
        site = web.TCPSite(self.runner, host, port)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.base_events.Server)
        address = server.sockets[0].getsockname()
        self.bound.append((str(address[0]), int(address[1])))
        return self.bound[-1]

    @property
    def port(self) -> int:
        return self.bound[0][1]

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    async def _health(self, request: web.Request) -> web.Response:
        ok, reasons = self.metrics.health.status()
        body = {"status": "ok" if ok else "degraded", "reasons": reasons}
        return web.Response(
            status=200 if ok else 503, text=json.dumps(body), content_type="application/json"
        )

    async def _metrics(self, request: web.Request) -> web.Response:
        if self.metrics_need_token:
            secret = bearer(request)
            token = None
            if secret is not None and self.store is not None:
                token = await asyncio.to_thread(self.store.token_for, secret)
            if token is None:
                return web.Response(
                    status=401,
                    text="a console token is required: Authorization: Bearer <token>\n",
                    headers={"WWW-Authenticate": "Bearer"},
                )
        return web.Response(
            body=self.metrics.render(),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )
