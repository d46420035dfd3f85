"""Replay helpers: a gateway on one recorded cassette, and a recorder of what ccxt sends."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from guard.gateway.ccxt import CcxtGateway
from tests.gateway.cases import CASES, CASSETTES, ENV, RECORDED_AT, settings
from tests.gateway.vcr_config import make_vcr


@dataclass
class Sent:
    """One HTTP request as ccxt handed it to the transport."""

    method: str
    url: str
    body: str | None

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.url).query))

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body or ""))

    def json(self) -> Any:
        return json.loads(self.body or "null")


@dataclass
class Wire:
    """Every request of every ccxt client of a gateway, in order."""

    sent: list[Sent] = field(default_factory=list)

    def attach(self, client: Any) -> None:
        original = client.fetch

        async def fetch(
            url: str, method: str = "GET", headers: Any = None, body: Any = None
        ) -> Any:
            self.sent.append(Sent(method, url, body if isinstance(body, str | None) else str(body)))
            return await original(url, method, headers, body)

        client.fetch = fetch

    def writes(self) -> list[Sent]:
        return [s for s in self.sent if is_write(s)]


def is_write(sent: Sent) -> bool:
    """True for a request that places, changes or cancels something at the venue."""
    if sent.path.endswith("/info"):  # hyperliquid reads are POSTs to /info
        return False
    if "broadcast_tx" in sent.path:  # dydx writes are GET broadcasts
        return True
    return sent.method.upper() in ("POST", "PUT", "DELETE")


def gateway_for(venue: str, **overrides: object) -> tuple[CcxtGateway, Wire]:
    case = CASES[venue]
    gateway = CcxtGateway(
        venue,
        [case.config()],
        settings=settings(venue, **overrides),
        environ=ENV,
        clock=lambda: RECORDED_AT,  # the venue's time in the cassettes
    )
    wire = Wire()
    wire.attach(gateway.client(case.account))
    wire.attach(gateway.public)
    return gateway, wire


@contextmanager
def replay(venue: str, kind: str) -> Iterator[None]:
    """Replay `tests/gateway/cassettes/<venue>_<kind>.yaml`; any unrecorded request fails."""
    cassette = CASSETTES / f"{venue}_{kind}.yaml"
    with make_vcr("none").use_cassette(str(cassette), allow_playback_repeats=True):
        yield
