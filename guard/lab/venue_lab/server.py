"""The venue lab's HTTP server: one aiohttp app on loopback serving every venue under its own
prefix (/binance, /hyperliquid, /bybit, /okx, /dydx) in that venue's wire format, with rate
limits and injected faults applied on the wire. Not pure (sockets, clock). Invariant: it binds
loopback only, and every order it accepts passed the venue module's rule checks."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qsl

from aiohttp import web

from guard.lab.venue_lab.book import LabBook
from guard.lab.venue_lab.faults import Fault, FaultKind, FaultPlan
from guard.lab.venue_lab.limits import Budget, RateLimiter
from guard.lab.venue_lab.rules import Violation

log = logging.getLogger("guard.lab.venue_lab")
LOOPBACK = ("127.0.0.1", "::1", "localhost")


class Rejected(Exception):
    """A request the venue refuses: HTTP status and the venue's own body."""

    def __init__(self, status: int, body: Any, rule: str = "", detail: str = "") -> None:
        super().__init__(detail or json.dumps(body))
        self.status, self.body, self.rule, self.detail = status, body, rule, detail


@dataclass(slots=True)
class Rejection:
    venue: str
    operation: str
    rule: str
    detail: str
    body: Any


@dataclass(slots=True)
class Call:
    """One request as a venue module sees it (its path without the venue and ccxt key)."""

    venue: str
    key: str  # ccxt's url key (fapiPublic, public, private, indexer, ...)
    method: str
    path: str
    query: dict[str, str]
    body: str
    headers: Mapping[str, str]
    book: LabBook
    raw_query: str = ""
    rejections: list[Rejection] | None = None  # where per-order rejections are recorded
    stale_ms: int = 0  # a STALE fault: answer as of this long ago
    contradictory: bool = False

    @property
    def now_ms(self) -> int:
        return self.book.now_ms() - self.stale_ms

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body, keep_blank_values=True))

    def json(self) -> Any:
        try:
            return json.loads(self.body or "null")
        except json.JSONDecodeError as error:
            raise Rejected(400, {"error": f"body is not JSON: {error}"}) from None


class VenueModule(Protocol):
    name: str

    def operation(self, call: Call) -> tuple[str, int]:
        """(operation name for faults, request weight) of this request."""

    async def handle(self, call: Call) -> Any:
        """The JSON body of the answer (or raise Rejected)."""


@dataclass
class VenueLab:
    """The lab server: venue modules over one LabBook, faults and rate limits on the wire."""

    book: LabBook
    modules: dict[str, VenueModule]
    budgets: dict[str, Budget] | None = None
    host: str = "127.0.0.1"
    port: int = 0
    faults: FaultPlan = field(default_factory=FaultPlan)
    rejections: list[Rejection] = field(default_factory=list)
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # venue, method, path
    # the client address and port of each REST request: one per TCP connection it came on
    peers: list[tuple[str, int]] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    limiter: RateLimiter = field(init=False)
    streams: Any = field(init=False)  # websocket streams (streams.Streams)

    def __post_init__(self) -> None:
        from guard.lab.venue_lab.streams import Streams

        self.streams = Streams(self.book)
        if self.host not in LOOPBACK:
            raise ValueError(f"venue lab binds loopback only (127.0.0.1, ::1), not {self.host}")
        self.limiter = RateLimiter() if self.budgets is None else RateLimiter(dict(self.budgets))

    def base_url(self, venue: str) -> str:
        if venue not in self.modules:
            raise KeyError(f"venue lab serves {sorted(self.modules)}, not {venue}")
        return f"http://{self.host}:{self.port}/{venue}"

    def app(self) -> web.Application:
        app = web.Application(client_max_size=1 << 20)
        self.streams.routes(app)  # before the REST catch-all
        app.router.add_route("*", "/{venue}/{key}/{rest:.*}", self._serve)
        app.router.add_route("*", "/{venue}/{key}", self._serve)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(
            self.app(), access_log=None, handle_signals=False, shutdown_timeout=0.1
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = getattr(site, "_server", None)
        if server is not None and server.sockets:
            self.port = int(server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        for stream in list(self.streams.open):
            await stream.socket.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def arm(self, fault: Fault) -> Fault:
        return self.faults.add(fault)

    # ----- the wire ---------------------------------------------------------------------------
    async def _serve(self, request: web.Request) -> web.StreamResponse:
        venue, key = request.match_info["venue"], request.match_info["key"]
        module = self.modules.get(venue)
        if module is None:
            return web.json_response({"error": f"venue lab serves no venue {venue!r}"}, status=404)
        rest = request.match_info.get("rest", "")
        call = Call(
            venue,
            key,
            request.method.upper(),
            "/" + rest,
            dict(request.query),
            await request.text(),
            request.headers,
            self.book,
            request.query_string,
            self.rejections,
        )
        self.requests.append((venue, call.method, call.path))
        peer = request.transport.get_extra_info("peername") if request.transport else None
        if peer:
            self.peers.append((str(peer[0]), int(peer[1])))
        operation, weight = module.operation(call)
        verdict = self.limiter.charge(venue, request.remote or "?", weight)
        if not verdict.allowed:
            return web.json_response(
                _limited_body(venue, verdict.status),
                status=verdict.status,
                headers={"Retry-After": str(verdict.retry_after)},
            )
        firing = self.faults.take(venue, operation)
        kinds = {f.kind: f for f in firing}
        if FaultKind.HTTP_5XX in kinds:
            status = kinds[FaultKind.HTTP_5XX].status
            return web.Response(status=status, text=f"{status} injected by the venue lab")
        if FaultKind.TIMEOUT_BEFORE_ACCEPT in kinds:
            await asyncio.sleep(kinds[FaultKind.TIMEOUT_BEFORE_ACCEPT].seconds)
            return _drop(request)
        if FaultKind.STALE in kinds:
            call.stale_ms = int(kinds[FaultKind.STALE].stale_by.total_seconds() * 1000)
        call.contradictory = FaultKind.CONTRADICTORY in kinds
        partial = kinds.get(FaultKind.PARTIAL_FILL)
        if partial is not None:
            self.book.partial_fill, self.book.partial_fills_left = partial.fraction, 1
        try:
            body: Any = await module.handle(call)
            status = 200
        except Rejected as rejected:
            self.rejections.append(
                Rejection(venue, operation, rejected.rule, rejected.detail, rejected.body)
            )
            body, status = rejected.body, rejected.status
        finally:
            self.book.partial_fill, self.book.partial_fills_left = None, 0
        if FaultKind.RESET_AFTER_ACCEPT in kinds:
            return _drop(request)
        if FaultKind.TIMEOUT_AFTER_ACCEPT in kinds:
            await asyncio.sleep(kinds[FaultKind.TIMEOUT_AFTER_ACCEPT].seconds)
        if FaultKind.LATENCY in kinds:
            await asyncio.sleep(kinds[FaultKind.LATENCY].seconds)
        return web.json_response(body, status=status, dumps=_dumps)


def _dumps(value: Any) -> str:
    return json.dumps(value, default=str)


def _drop(request: web.Request) -> web.StreamResponse:
    """Reset the connection with no answer (the client sees a disconnect)."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    raise ConnectionResetError("venue lab: connection reset (injected)")


def _limited_body(venue: str, status: int) -> Any:
    if venue == "binance":
        if status == 418:
            return {"code": -1003, "msg": "Way too many requests; IP banned until later."}
        return {"code": -1003, "msg": "Too many requests; current limit exceeded."}
    if venue == "bybit":
        return {"retCode": 10006, "retMsg": "Too many visits!", "result": {}, "retExtInfo": {}}
    if venue == "okx":
        return {"code": "50011", "msg": "Rate limit reached. Please refer to API documentation."}
    return {"error": "rate limited"}


def violation(rule: Violation, status: int, body: Any) -> Rejected:
    return Rejected(status, body, rule.rule, rule.detail)


Handler = Callable[[Call], Awaitable[Any]]
