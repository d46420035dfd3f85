"""429 and 5xx storms through the real ccxt client of the Binance case into the service: each tick
makes a bounded number of tries with jittered exponential backoff, audits one error, degrades
health; when the venue answers again the next tick reads and plans."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from guard.core.venues.registry import rules_for
from guard.gateway.dryrun import DryRunGateway
from guard.service import AccountRuntime, GuardService
from guard.service.files import load_policies
from guard.store import Store
from tests.gateway.cases import CASES
from tests.gateway.helpers import gateway_for, replay
from tests.gateway.test_ccxt_service import clock

ROOT = Path(__file__).resolve().parents[2]
CASE = CASES["binance"]
ATTEMPTS = 3
BACKOFF_MAX = 0.02


@pytest.mark.parametrize(
    ("status", "reason", "family"),
    [(429, "Too Many Requests", "RateLimitExceeded"), (503, "Service Unavailable", "NotAvailable")],
)
async def test_ccxt_storm_when_ticked_then_bounded_retries_per_tick_then_recovers(
    sqlite_store: Store,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    status: int,
    reason: str,
    family: str,
) -> None:
    gateway, wire = gateway_for(
        "binance", read_attempts=ATTEMPTS, backoff_base=0.005, backoff_max=BACKOFF_MAX
    )
    client = gateway.client(CASE.account)
    storm = {"left": 2 * ATTEMPTS, "hits": 0}  # two whole ticks of failures
    original = client.fetch

    async def fetch(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        if "positionRisk" in url:
            storm["hits"] += 1
            if storm["left"] > 0:
                storm["left"] -= 1
                # a 429 whose Retry-After is short (0 s) is retried within the tick; a longer one
                # closes the whole venue instead (tests/gateway/test_ccxt_cooldown.py)
                client.last_response_headers = {"Retry-After": "0"}
                client.handle_http_status_code(status, reason, url, method, "")
        return await original(url, method, headers, body)

    client.fetch = fetch
    sleeps: list[float] = []
    real_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    async def recording_sleep(seconds: float, *args: Any) -> Any:
        caller = sys._getframe(1)  # the coroutine awaiting this one
        if "tenacity" in caller.f_code.co_filename:  # a retry pause, not ccxt's own sleeps
            sleeps.append(seconds)
        return await real_sleep(seconds, *args)

    monkeypatch.setattr(asyncio, "sleep", recording_sleep)
    service = GuardService(
        store=sqlite_store,
        accounts={
            CASE.account: AccountRuntime(
                name=CASE.account,
                rules=rules_for("binance"),
                gateway=DryRunGateway(gateway),
                # a policy that acts on the recorded position at first sight (the default only
                # reports a position that starts inside its bands), so "plans" is observable
                policies=load_policies([ROOT / "tests" / "service" / "mechanics-policy.yaml"]),
                dry_run=True,
            )
        },
        clock=clock,
    )
    try:
        with caplog.at_level(logging.WARNING), replay("binance", "snapshot"):
            for tick in (1, 2):
                report = await service.tick(CASE.account)
                assert report.error is not None and family in report.error
                assert storm["hits"] == tick * ATTEMPTS  # bounded: read_attempts per tick
                assert "venue" in service.health.reasons[CASE.account]
            report = await service.tick(CASE.account)
    finally:
        await gateway.close()
    assert report.error is None and report.plan is not None and report.plan.orders
    assert "venue" not in service.health.reasons.get(CASE.account, {})
    assert sqlite_store.count_events("error", CASE.account) == 2  # one per failed tick
    retries = [r.getMessage() for r in caplog.records if "fetch_positions" in r.getMessage()]
    assert [m.rsplit("(attempt ", 1)[1] for m in retries] == ["1)", "2)", "3)"] * 2
    assert len(sleeps) == 2 * (ATTEMPTS - 1)  # a pause before every retry, none after the last
    assert all(0 <= s <= BACKOFF_MAX for s in sleeps) and sum(sleeps) > 0
    assert wire.writes() == [] and gateway.write_calls == 0
