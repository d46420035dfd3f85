"""Faults through the real ccxt client of the Binance case: timeouts on create, 429, 5xx, and a
reduce-only order rejected because the position is already gone."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import ccxt.async_support as ccxt
import pytest

from guard.core.domain import GuardState, OrderStatus
from guard.gateway.base import (
    OrderRejected,
    PermanentError,
    RateLimited,
    TemporaryError,
    UnknownOrderOutcome,
)
from guard.gateway.ccxt import translate
from guard.service.executor import Executor
from guard.store import Store
from tests.gateway.cases import CASES, RECORDED_AT
from tests.gateway.helpers import gateway_for, replay

CASE = CASES["binance"]


def clock() -> datetime:
    return RECORDED_AT  # the venue's time in the cassettes (payload times are not stale)


def counting(calls: list[str], name: str, behaviour: Callable[..., Awaitable[Any]]) -> Any:
    async def call(*args: Any, **kwargs: Any) -> Any:
        calls.append(name)
        return await behaviour(*args, **kwargs)

    return call


def http_status(client: Any, code: int, reason: str, path_part: str, hits: list[str]) -> Any:
    """client.fetch answering `code` (through ccxt's own status mapping) for matching urls."""
    original = client.fetch

    async def fetch(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        if path_part in url:
            hits.append(url)
            client.handle_http_status_code(code, reason, url, method, "")
        return await original(url, method, headers, body)

    return fetch


async def test_create_when_it_times_out_then_resolved_by_client_id_and_not_resent(
    sqlite_store: Store,
) -> None:
    gateway, wire = gateway_for("binance")
    client = gateway.client(CASE.account)
    calls: list[str] = []

    async def timeout(*args: Any, **kwargs: Any) -> Any:
        raise ccxt.RequestTimeout(
            "binanceusdm POST https://fapi.binance.com/fapi/v1/order timed out"
        )

    client.create_order = counting(calls, "create_order", timeout)
    executor = Executor(sqlite_store, gateway, clock)
    try:
        with replay("binance", "order"):
            await gateway.fetch_snapshot(CASE.account)
            report = await executor.execute(
                CASE.account, [CASE.plan()], tick_id="t1", fingerprint="f", state=GuardState()
            )
    finally:
        await gateway.close()
    (result,) = report.results
    assert calls == ["create_order"]  # sent once, never resent
    assert result.status is OrderStatus.FILLED  # found at the venue by its client id
    lookups = [s for s in wire.sent if s.path.endswith("/fapi/v1/order") and s.method == "GET"]
    assert (
        len(lookups) == 1 and lookups[0].query["origClientOrderId"] == CASE.plan().client_order_id
    )


async def test_read_when_rate_limited_with_429_and_short_retry_after_then_waits_and_succeeds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gateway, _wire = gateway_for("binance")
    client = gateway.client(CASE.account)
    failures = {"left": 2}
    original = client.fetch

    async def fetch(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        if "positionRisk" in url and failures["left"] > 0:
            failures["left"] -= 1
            client.last_response_headers = {"Retry-After": "0"}  # as ccxt stores them
            client.handle_http_status_code(429, "Too Many Requests", url, method, "")
        return await original(url, method, headers, body)

    client.fetch = fetch
    try:
        with caplog.at_level(logging.WARNING), replay("binance", "snapshot"):
            raw = await gateway.raw_snapshot(CASE.account)
    finally:
        await gateway.close()
    assert failures["left"] == 0 and len(raw["positions"]) == 1
    retries = [r for r in caplog.records if "fetch_positions" in r.getMessage()]
    assert [r.getMessage().endswith(f"(attempt {n})") for n, r in enumerate(retries, 1)] == [
        True,
        True,
    ]
    assert all("RateLimitExceeded" in r.getMessage() for r in retries)


async def test_read_when_venue_answers_5xx_then_retried_then_surfaced() -> None:
    gateway, _wire = gateway_for("binance", read_attempts=3)
    client = gateway.client(CASE.account)
    hits: list[str] = []
    client.fetch = http_status(client, 503, "Service Unavailable", "positionRisk", hits)
    try:
        with (
            replay("binance", "snapshot"),
            pytest.raises(TemporaryError, match="ExchangeNotAvailable"),
        ):
            await gateway.raw_snapshot(CASE.account)
    finally:
        await gateway.close()
    assert len(hits) == 3  # read_attempts, then the TemporaryError surfaces
    assert gateway.write_calls == 0


async def test_read_when_5xx_persists_then_exactly_read_attempts_are_made() -> None:
    gateway, _ = gateway_for("binance", read_attempts=3)
    client = gateway.client(CASE.account)
    calls: list[str] = []

    async def unavailable(*args: Any, **kwargs: Any) -> Any:
        raise ccxt.ExchangeNotAvailable("binanceusdm 503 Service Unavailable")

    client.fetch_balance = counting(calls, "fetch_balance", unavailable)
    try:
        with replay("binance", "snapshot"), pytest.raises(TemporaryError):
            await gateway.raw_snapshot(CASE.account)
    finally:
        await gateway.close()
    assert calls == ["fetch_balance"] * 3


async def test_reduce_only_when_position_already_gone_then_rejected_recorded_without_retry(
    sqlite_store: Store,
) -> None:
    gateway, wire = gateway_for("binance")
    executor = Executor(sqlite_store, gateway, clock)
    try:
        with replay("binance", "rejected"):
            await gateway.fetch_snapshot(CASE.account)
            report = await executor.execute(
                CASE.account, [CASE.plan()], tick_id="t1", fingerprint="f", state=GuardState()
            )
            again = await executor.execute(
                CASE.account, [CASE.plan()], tick_id="t2", fingerprint="f", state=GuardState()
            )
    finally:
        await gateway.close()
    (result,) = report.results
    assert result.status is OrderStatus.REJECTED and "-2022" in result.message
    assert again.results == ()  # the same client id is a duplicate: no retry storm
    assert len(wire.writes()) == 1
    assert not [s for s in wire.sent if s.path.endswith("/fapi/v1/order") and s.method == "GET"]
    kinds = [e.kind for e in sqlite_store.events()]
    assert "order_rejected" in kinds


@pytest.mark.parametrize(
    ("error", "write", "family"),
    [
        (ccxt.RequestTimeout("t"), True, UnknownOrderOutcome),
        (ccxt.RequestTimeout("t"), False, TemporaryError),
        (ccxt.NetworkError("n"), True, UnknownOrderOutcome),
        (ccxt.RateLimitExceeded("r"), True, RateLimited),
        (ccxt.DDoSProtection("d"), False, RateLimited),
        (ccxt.ExchangeNotAvailable("x"), False, TemporaryError),
        (ccxt.AuthenticationError("a"), False, PermanentError),
        (ccxt.PermissionDenied("p"), True, PermanentError),
        (ccxt.InvalidOrder("i"), True, OrderRejected),
        (ccxt.InsufficientFunds("f"), True, OrderRejected),
        (ccxt.ExchangeError("e"), True, OrderRejected),
        (ccxt.ExchangeError("e"), False, TemporaryError),
        (ccxt.BadRequest("b"), False, PermanentError),
    ],
)
def test_translate_when_ccxt_error_then_one_gateway_family(
    error: Exception, write: bool, family: type
) -> None:
    translated = translate(error, "binance", "call", write=write)
    assert type(translated) is family
    assert translated.args[0].startswith("binance call: ")


async def test_lookup_when_hyperliquid_does_not_know_the_cloid_then_none_not_acknowledged() -> None:
    case = CASES["hyperliquid"]
    gateway, _ = gateway_for("hyperliquid")
    client = gateway.client(case.account)
    original = client.publicPostInfo

    async def info(request: Any, *args: Any) -> Any:
        if request.get("type") == "orderStatus":
            return {"status": "unknownOid"}  # what the venue answers for a cloid it never saw
        return await original(request, *args)

    client.publicPostInfo = info
    try:
        with replay("hyperliquid", "order"):
            await gateway.fetch_snapshot(case.account)
            found = await gateway.fetch_order(
                case.account, case.symbol, case.plan().client_order_id
            )
    finally:
        await gateway.close()
    assert found is None
