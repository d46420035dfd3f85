"""A local fake of the Telegram Bot API (aiohttp on 127.0.0.1): it answers getMe, getUpdates
(long polling), sendMessage, editMessageText and answerCallbackQuery the way Telegram does,
records what the bot sent, and lets a test type commands and press buttons."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

BOT_TOKEN = "123456:TEST-token-never-real"


class FakeBotApi:
    def __init__(self) -> None:
        self.updates: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []  # sendMessage and editMessageText calls
        self._arrived = asyncio.Event()
        self._ids = 0
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._call)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _next(self) -> int:
        self._ids += 1
        return self._ids

    @staticmethod
    def _user(chat_id: int) -> dict[str, Any]:
        return {"id": chat_id, "is_bot": False, "first_name": f"user{chat_id}"}

    def _message(self, chat_id: int, text: str, **extra: Any) -> dict[str, Any]:
        return {
            "message_id": self._next(),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "text": text,
            **extra,
        }

    def type(self, chat_id: int, text: str) -> None:
        """The user of `chat_id` sends `text` (a /command) to the bot."""
        command = text.split()[0]
        message = self._message(
            chat_id,
            text,
            **{
                "from": self._user(chat_id),
                "entities": [{"type": "bot_command", "offset": 0, "length": len(command)}],
            },
        )
        self._push({"message": message})

    def press(self, chat_id: int, data: str) -> None:
        """The user of `chat_id` presses the inline button carrying `data`."""
        query = {
            "id": str(self._next()),
            "from": self._user(chat_id),
            "chat_instance": "1",
            "data": data,
            "message": self._message(chat_id, "(a message with buttons)"),
        }
        self._push({"callback_query": query})

    def _push(self, update: dict[str, Any]) -> None:
        self.updates.append({"update_id": self._next(), **update})
        self._arrived.set()

    async def wait_for(
        self, found: Callable[[dict[str, Any]], bool], timeout: float = 15
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for item in self.sent:
                if found(item):
                    return item
            assert time.monotonic() < deadline, f"the bot never sent it; it sent {self.sent}"
            await asyncio.sleep(0.02)

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            return dict(await request.json())
        raw = dict(await request.post()) if request.can_read_body else {}
        raw.update(request.query)
        params: dict[str, Any] = {}
        for key, value in raw.items():
            try:
                params[key] = json.loads(str(value))
            except ValueError:
                params[key] = str(value)
        return params

    async def _call(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.match_info["token"] != BOT_TOKEN:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        params = await self._params(request)
        result: Any = True
        if method == "getMe":
            result = {"id": 42, "is_bot": True, "first_name": "guard", "username": "guard_bot"}
        elif method == "getUpdates":
            result = await self._updates(params)
        elif method in ("sendMessage", "editMessageText"):
            chat_id = int(params.get("chat_id", 0))
            self.sent.append({"method": method, **params})
            result = self._message(chat_id, str(params.get("text", "")))
        return web.json_response({"ok": True, "result": result})

    async def _updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        wait = min(float(params.get("timeout") or 0), 1.0)
        deadline = time.monotonic() + wait
        while True:
            fresh = [u for u in self.updates if u["update_id"] >= offset]
            if fresh or time.monotonic() >= deadline:
                return fresh
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), deadline - time.monotonic())
