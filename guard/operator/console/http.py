"""The console's HTTP API and web page: aiohttp routes over the command layer, installed on the
service's HTTP server. Bearer tokens (sha256-hashed in the store) with scopes; a missing or
unknown token is 401, a token without the scope 403, and both are audited; the token itself is
never logged or echoed. Blocking store calls run off the event loop."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from importlib import resources
from typing import Any

from aiohttp import web

from guard.core.policy.units import parse_duration
from guard.core.yaml_model import ConfigError
from guard.operator.console.actions import ConsoleCommands
from guard.operator.console.live import RunnerView
from guard.operator.console.openapi import openapi_document
from guard.operator.console.refusal import Actor, Refusal, Why
from guard.service.config import Telegram
from guard.service.logs import logger
from guard.service.runner import Runner
from guard.service.web import bearer
from guard.store.codec import to_jsonable

STATUS = {
    Why.UNAUTHENTICATED: 401,
    Why.FORBIDDEN: 403,
    Why.INVALID: 400,
    Why.NOT_FOUND: 404,
    Why.CONFLICT: 409,
    Why.UNAVAILABLE: 503,
}
Handler = Callable[[ConsoleCommands, Actor, dict[str, Any], web.Request], Any]


def _reply(status: int, body: Any) -> web.Response:
    return web.Response(
        status=status, text=json.dumps(to_jsonable(body)), content_type="application/json"
    )


def _text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str | int | float):
        raise Refusal(Why.INVALID, f"{name} must be a string, got {type(value).__name__}")
    return str(value)


def _expiry(body: dict[str, Any], now: datetime) -> datetime | None:
    ttl = _text(body, "ttl")
    if ttl is None:
        return None
    try:
        span = parse_duration(ttl)
    except ValueError as error:
        raise Refusal(Why.INVALID, f"ttl: {error}") from None
    if span <= timedelta(0):
        raise Refusal(Why.INVALID, f"ttl must be positive, got {ttl!r}")
    return now + span


def _lock_id(request: web.Request) -> int:
    raw = request.match_info["lock_id"]
    if not raw.isdigit():
        raise Refusal(Why.INVALID, f"lock id must be a number, got {raw!r}")
    return int(raw)


ROUTES: dict[tuple[str, str], tuple[str, Handler]] = {
    ("GET", "/api/status"): ("status", lambda c, a, b, r: c.status(a)),
    ("GET", "/api/positions"): ("positions", lambda c, a, b, r: c.positions(a)),
    ("GET", "/api/overview"): ("overview", lambda c, a, b, r: c.overview(a)),
    ("GET", "/api/locks"): (
        "locks",
        lambda c, a, b, r: c.locks(a, include_inactive=r.query.get("all") == "1"),
    ),
    ("GET", "/api/audit"): (
        "audit",
        lambda c, a, b, r: c.audit_tail(
            a,
            limit=int(r.query.get("limit", "50")) if r.query.get("limit", "50").isdigit() else 0,
            account=r.query.get("account"),
            kind=r.query.get("kind"),
            everything=r.query.get("all") == "1",
        ),
    ),
    ("GET", "/api/audit/verify"): ("audit verify", lambda c, a, b, r: c.audit_verify(a)),
    ("POST", "/api/locks"): (
        "lock",
        lambda c, a, b, r: c.lock(
            a,
            reason=_text(b, "reason"),
            account=_text(b, "account"),
            market=_text(b, "market"),
            expires_at=_expiry(b, c.clock()),
        ),
    ),
    ("DELETE", "/api/locks/{lock_id}"): (
        "unlock",
        lambda c, a, b, r: c.unlock(a, lock_id=_lock_id(r), reason=r.query.get("reason")),
    ),
    ("POST", "/api/unlock"): (
        "unlock",
        lambda c, a, b, r: c.unlock(
            a, account=_text(b, "account"), market=_text(b, "market"), reason=_text(b, "reason")
        ),
    ),
    ("POST", "/api/pause"): (
        "pause",
        lambda c, a, b, r: c.pause(a, reason=_text(b, "reason"), expires_at=_expiry(b, c.clock())),
    ),
    ("POST", "/api/resume"): ("resume", lambda c, a, b, r: c.resume(a, reason=_text(b, "reason"))),
    ("POST", "/api/flatten"): (
        "flatten",
        lambda c, a, b, r: c.flatten(
            a,
            account=_text(b, "account"),
            market=_text(b, "market"),
            fraction=_text(b, "fraction") or "1",
            reason=_text(b, "reason"),
            confirm=_text(b, "confirm"),
        ),
    ),
    ("POST", "/api/reload"): ("reload", lambda c, a, b, r: c.reload(a)),
}


class ConsoleApi:
    """The console's routes over one ConsoleCommands."""

    def __init__(self, commands: ConsoleCommands) -> None:
        self.commands = commands
        self.log = logger(service="console")

    def install(self, app: web.Application) -> None:
        app.router.add_get("/", self._page)
        app.router.add_get("/openapi.json", self._openapi)
        for (method, path), (action, handler) in ROUTES.items():
            app.router.add_route(method, path, self._endpoint(action, handler))

    async def _page(self, request: web.Request) -> web.Response:
        page = resources.files("guard.operator.console").joinpath("page.html").read_text()
        return web.Response(
            text=page,
            content_type="text/html",
            headers={"Content-Security-Policy": "default-src 'self' 'unsafe-inline'"},
        )

    async def _openapi(self, request: web.Request) -> web.Response:
        return _reply(200, openapi_document())

    def _endpoint(
        self, action: str, handler: Handler
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def serve(request: web.Request) -> web.Response:
            status, body, who = await self._serve(action, handler, request)
            self.log.info(
                "console_request",
                method=request.method,
                path=request.path,
                status=status,
                actor=who,
            )
            return _reply(status, body)

        return serve

    async def _serve(
        self, action: str, handler: Handler, request: web.Request
    ) -> tuple[int, Any, str]:
        secret = bearer(request)
        commands = self.commands
        token = await asyncio.to_thread(commands.store.token_for, secret) if secret else None
        if token is None:
            refusal = Refusal(
                Why.UNAUTHENTICATED,
                "a console token is required (Authorization: Bearer <token>; `guard token create`)"
                if secret is None
                else "unknown or revoked console token",
            )
            await asyncio.to_thread(commands.refuse, None, action, refusal)
            return 401, {"error": refusal.message}, "anonymous"
        actor = Actor(f"token:{token.name}", token.scope, "http")
        body: dict[str, Any] = {}
        if request.method == "POST" and request.can_read_body:
            try:
                raw = await request.json()
            except ValueError:
                raw = None
            if not isinstance(raw, dict):
                refusal = Refusal(Why.INVALID, "the request body must be a JSON object")
                await asyncio.to_thread(commands.refuse, actor, action, refusal)
                return 400, {"error": refusal.message}, actor.name
            body = raw
        try:
            result = await asyncio.to_thread(handler, commands, actor, body, request)
        except Refusal as refusal:
            if not refusal.audited:  # input parsing here, before the command layer
                await asyncio.to_thread(commands.refuse, actor, action, refusal)
            return STATUS[refusal.why], {"error": refusal.message}, actor.name
        return 200, result, actor.name


class _LazyChat:
    """The Telegram console, built in the service's event loop when the runner starts it."""

    def __init__(
        self,
        commands: Callable[[], ConsoleCommands],
        settings: Telegram,
        secret: str,
        runner: Runner,
    ) -> None:
        self.commands, self.settings, self.secret, self.runner = commands, settings, secret, runner
        self.chat: Any = None

    async def start(self) -> None:
        from guard.operator.console.telegram import TelegramConsole

        self.chat = TelegramConsole(self.commands(), self.settings, self.secret)
        if self.settings.alerts:
            self.runner.service.notifier.listeners.append(self.chat.on_alert)
        await self.chat.start()

    async def stop(self) -> None:
        if self.chat is not None:
            if self.chat.on_alert in self.runner.service.notifier.listeners:
                self.runner.service.notifier.listeners.remove(self.chat.on_alert)
            await self.chat.stop()


def install_console(runner: Runner) -> None:
    """Serve the console on the runner's HTTP server (when `service.console.port` is set)."""

    shared: list[ConsoleCommands] = []  # one command layer (one set of confirmations)

    def commands() -> ConsoleCommands:
        if not shared:
            shared.append(ConsoleCommands(runner.store, live=RunnerView(runner)))
        return shared[0]

    def extend(app: web.Application) -> None:
        ConsoleApi(commands()).install(app)

    runner.web_extensions.append(extend)
    chat = runner.config.service.console.telegram
    if chat is not None:
        try:
            secret = chat.bot_token.resolve()
        except ValueError as error:
            where = ("service", "console", "telegram", "bot_token")
            raise ConfigError([runner.config.problem(where, str(error))]) from None
        runner.companions.append(_LazyChat(commands, chat, secret, runner))
