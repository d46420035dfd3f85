"""Websocket streams of the venue lab for Binance USDⓈ-M (market streams with SUBSCRIBE, the
user data stream behind a listenKey) and Hyperliquid (/ws subscribe: allMids, activeAssetCtx,
webData2, clearinghouseState, orderUpdates), in the venues' formats, pushed when the shared
book's virtual time or its orders change. Tests can drop or silence a venue's streams.
Not pure (sockets, timers). Sources: Binance USDⓈ-M "WebSocket Market Streams" / "User Data
Streams" pages; Hyperliquid docs for-developers/api/websocket (subscriptions)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from guard.lab.venue_lab.book import LabBook
from guard.lab.venue_lab.stream_bodies import binance_user_events, hyperliquid_messages
from guard.lab.venue_lab.views import fmt

PUSH_EVERY = 0.02  # seconds between checks of the book for news


def listen_key(api_key: str) -> str:
    """The user-data-stream key of a Binance API key (stable, like Binance's for 60 minutes)."""
    return hashlib.sha256(f"listenKey:{api_key}".encode()).hexdigest()


@dataclass(slots=True)
class Stream:
    venue: str
    socket: web.WebSocketResponse
    subscriptions: list[Any] = field(default_factory=list)
    listen_key: str | None = None


@dataclass
class Streams:
    """Every open stream of the lab; `silenced` venues keep their sockets but send nothing."""

    book: LabBook
    open: list[Stream] = field(default_factory=list)
    silenced: set[str] = field(default_factory=set)
    sent: int = 0

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/binance/ws", self._binance)
        app.router.add_get("/binance/ws/{listen_key}", self._binance)
        # the routed endpoints (Binance USDⓈ-M "WebSocket Market Streams": /public, /market and
        # /private ?listenKey=), the URLs ccxt.pro builds
        app.router.add_get("/binance/market/ws/{stream}", self._binance)
        app.router.add_get("/binance/public/ws/{stream}", self._binance)
        app.router.add_get("/binance/private/ws", self._binance)
        app.router.add_get("/hyperliquid/ws", self._hyperliquid)

    def listen_key_account(self, key: str) -> str | None:
        """The paper account behind a Binance listenKey (see binance.listen_key)."""
        for account in self.book.accounts:
            if account.venue == "binance" and listen_key(account.key) == key:
                return account.paper
        return None

    async def drop(self, venue: str) -> int:
        """Close every stream of `venue` (a dropped connection); the number closed."""
        chosen = [s for s in self.open if s.venue == venue]
        for stream in chosen:
            await stream.socket.close()
        return len(chosen)

    # ----- connections ------------------------------------------------------------------------
    async def _serve(
        self,
        request: web.Request,
        stream: Stream,
        on_message: Callable[[Stream, Any], Any],
        render: Callable[[Stream], list[Any]],
    ) -> web.WebSocketResponse:
        await stream.socket.prepare(request)
        self.open.append(stream)
        pusher = asyncio.create_task(self._push(stream, render))
        try:
            async for message in stream.socket:
                if message.type is not WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(message.data)
                except json.JSONDecodeError:
                    await stream.socket.send_json({"error": "invalid JSON"})
                    continue
                answer = on_message(stream, data)
                if answer is not None:
                    await stream.socket.send_json(answer)
        finally:
            pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pusher
            self.open.remove(stream)
        return stream.socket

    async def _push(self, stream: Stream, render: Callable[[Stream], list[Any]]) -> None:
        seen: tuple[Any, ...] = ()
        while not stream.socket.closed:
            await asyncio.sleep(PUSH_EVERY)
            if stream.venue in self.silenced or (
                not stream.subscriptions and not stream.listen_key
            ):
                continue
            state = (
                self.book.now(),
                sum(len(v) for v in self.book.orders.values()),
                len(stream.subscriptions),
            )
            if state == seen:
                continue
            seen = state
            for message in render(stream):
                await stream.socket.send_json(message)
                self.sent += 1

    # ----- Binance ----------------------------------------------------------------------------
    async def _binance(self, request: web.Request) -> web.WebSocketResponse:
        key = request.match_info.get("listen_key") or request.query.get("listenKey")
        if key is not None and self.listen_key_account(key) is None:
            raise web.HTTPBadRequest(text='{"code":-1125,"msg":"This listenKey does not exist."}')
        stream = Stream("binance", web.WebSocketResponse(heartbeat=None), listen_key=key)
        return await self._serve(request, stream, self._binance_message, self._binance_render)

    def _binance_message(self, stream: Stream, data: Any) -> Any:
        method, params = data.get("method"), data.get("params") or []
        if method == "SUBSCRIBE":
            stream.subscriptions.extend(p for p in params if p not in stream.subscriptions)
        elif method == "UNSUBSCRIBE":
            stream.subscriptions = [p for p in stream.subscriptions if p not in params]
        elif method == "LIST_SUBSCRIPTIONS":
            return {"result": list(stream.subscriptions), "id": data.get("id")}
        else:
            return {
                "code": 2,
                "msg": f"Invalid request: unknown method {method!r}",
                "id": data.get("id"),
            }
        return {"result": None, "id": data.get("id")}

    def _binance_render(self, stream: Stream) -> list[Any]:
        now = self.book.now_ms()
        messages: list[Any] = []
        markets = {spec.base.lower() + "usdt": spec for spec in self.book.paper.markets.values()}
        for name in stream.subscriptions:
            pair, _, kind = str(name).partition("@")
            spec = markets.get(pair)
            if spec is None or not kind.startswith("markPrice"):
                continue
            mark = self.book.mark(spec.symbol)
            rate, next_time = self.book.paper._funding_now(spec.symbol)
            messages.append(
                {
                    "e": "markPriceUpdate",
                    "E": now,
                    "s": pair.upper(),
                    "p": fmt(mark, 8),
                    "i": fmt(mark, 8),
                    "P": fmt(mark, 8),
                    "r": fmt(rate, 8),
                    "T": int(next_time.timestamp() * 1000) if next_time else 0,
                }
            )
        if stream.listen_key is not None:
            account = self.listen_key_account(stream.listen_key)
            if account is not None:
                messages.extend(binance_user_events(self.book, account))
        return messages

    # ----- Hyperliquid ------------------------------------------------------------------------
    async def _hyperliquid(self, request: web.Request) -> web.WebSocketResponse:
        stream = Stream("hyperliquid", web.WebSocketResponse(heartbeat=None))
        return await self._serve(request, stream, self._hl_message, self._hl_render)

    def _hl_message(self, stream: Stream, data: Any) -> Any:
        method = data.get("method")
        if method == "ping":
            return {"channel": "pong"}
        subscription = data.get("subscription")
        if method not in ("subscribe", "unsubscribe") or not isinstance(subscription, dict):
            return {"channel": "error", "data": f"Invalid request: {json.dumps(data)}"}
        if method == "subscribe" and subscription not in stream.subscriptions:
            stream.subscriptions.append(subscription)
        elif method == "unsubscribe" and subscription in stream.subscriptions:
            stream.subscriptions.remove(subscription)
        return {"channel": "subscriptionResponse", "data": data}

    def _hl_render(self, stream: Stream) -> list[Any]:
        return hyperliquid_messages(self.book, stream.subscriptions)
