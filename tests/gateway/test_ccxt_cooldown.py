"""One request budget per venue (issue 14): a 418/429 closes the venue for Retry-After (a fake
clock and sleep stand in for time), nothing is sent meanwhile, protective work goes first when it
reopens; every account client of a venue shares one ccxt weight budget."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import ccxt.async_support as ccxt
import pytest

from guard.core.venues.registry import rules_for
from guard.gateway.base import PermanentError, RateLimited
from guard.gateway.ccxt import CcxtGateway, translate
from guard.gateway.ccxt.budget import PRIORITY_PROTECTIVE, PRIORITY_ROUTINE
from guard.gateway.dryrun import DryRunGateway
from guard.service import AccountRuntime, GuardService
from guard.service.files import load_policies
from guard.service.metrics import Health, Metrics
from guard.service.notify import AlertKind
from guard.store import Store
from tests.gateway.cases import CASES, ENV, settings
from tests.gateway.helpers import Wire, replay

CASE = CASES["binance"]
ROOT = Path(__file__).resolve().parents[2]
START = datetime(2025, 11, 21, 4, 40, tzinfo=UTC)


class FakeTime:
    """A clock the test moves, and a sleep that waits until the test lets it finish."""

    def __init__(self) -> None:
        self.now = START
        self.slept: list[float] = []
        self.wake = asyncio.Event()

    def clock(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        await self.wake.wait()


def banned_once(client: Any, retry_after: str) -> None:
    """The first positionRisk request answers HTTP 418 with Retry-After (ccxt's own mapping)."""
    original = client.fetch
    state = {"banned": False}

    async def fetch(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        if "positionRisk" in url and not state["banned"]:
            state["banned"] = True
            client.last_response_headers = {"Retry-After": retry_after}
            client.handle_http_status_code(418, "I'm a teapot", url, method, "")
        return await original(url, method, headers, body)

    client.fetch = fetch


async def test_venue_when_418_with_retry_after_then_nothing_sent_until_it_passes_then_protective_first() -> (
    None
):
    time = FakeTime()
    gateway = CcxtGateway(
        "binance",
        [CASE.config()],
        settings=settings(max_concurrent=1),
        environ=ENV,
        clock=time.clock,
        sleep=time.sleep,
    )
    wire = Wire()
    client = gateway.client(CASE.account)
    wire.attach(client)
    wire.attach(gateway.public)
    banned_once(client, "90")
    try:
        with replay("binance", "snapshot"):
            with pytest.raises(RateLimited) as banned:
                await gateway.raw_snapshot(CASE.account)
            assert banned.value.retry_after == 90.0  # the header, not the 120 s default
            assert gateway.cooldown_until == START + timedelta(seconds=90)
            sent = len(wire.sent)
            # during the ban: a snapshot and an order fail at once, nothing reaches the venue
            time.now = START + timedelta(seconds=30)
            with pytest.raises(RateLimited, match="not sent, venue-wide rate-limit cool-down"):
                await asyncio.wait_for(gateway.raw_snapshot(CASE.account), 5)
            with pytest.raises(RateLimited, match="not sent"):
                await asyncio.wait_for(gateway.create_order(CASE.plan()), 5)
            assert len(wire.sent) == sent and gateway.write_calls == 0
            # one second before the end: work queues at the closed gate instead of failing
            time.now = START + timedelta(seconds=89)
            served: list[str] = []

            async def call(name: str) -> str:
                served.append(name)
                return name

            routine = asyncio.create_task(
                gateway._read("routine", lambda: call("routine"), priority=PRIORITY_ROUTINE)
            )
            await asyncio.sleep(0)
            protective = asyncio.create_task(
                gateway._read(
                    "protective", lambda: call("protective"), priority=PRIORITY_PROTECTIVE
                )
            )
            for _ in range(5):
                await asyncio.sleep(0)
            assert served == []  # the gate stays closed until Retry-After has passed
            time.now = START + timedelta(seconds=90)
            time.wake.set()
            await asyncio.wait_for(asyncio.gather(routine, protective), 5)
            assert served == ["protective", "routine"]
            assert time.slept == [90.0]
            assert gateway.cooldown_until is None
            raw = await gateway.raw_snapshot(CASE.account)  # the venue is open again
            assert raw["positions"]
    finally:
        await gateway.close()


def test_translate_when_429_without_retry_after_then_default_cool_down() -> None:
    error = translate(ccxt.RateLimitExceeded("slow down"), "binance", "x", write=False)
    assert isinstance(error, RateLimited) and error.retry_after == 10.0


def test_translate_when_418_with_retry_after_header_then_its_seconds() -> None:
    error = translate(
        ccxt.DDoSProtection("banned"),
        "binance",
        "x",
        write=True,
        headers={"retry-after": "300"},
    )
    assert isinstance(error, RateLimited) and error.retry_after == 300.0


def test_clients_when_two_accounts_on_one_venue_then_one_shared_weight_budget() -> None:
    second = replace(CASE.config(), name="bn-second")
    gateway = CcxtGateway("binance", [CASE.config(), second], settings=settings(), environ=ENV)
    one, two = gateway.client(CASE.account), gateway.client("bn-second")
    assert one.throttler is not None
    assert one.throttler is two.throttler is gateway.public.throttler


def test_translate_when_binance_fapi_answers_2015_then_permanent_naming_portfolio_margin() -> None:
    # a portfolio-margin account gets -2015 on every /fapi call (JKorf/Binance.Net#1485)
    error = translate(
        ccxt.AuthenticationError(
            'binanceusdm {"code":-2015,"msg":"Invalid API-key, IP, or permissions for action"}'
        ),
        "binance",
        "fetch_positions",
        write=False,
    )
    assert isinstance(error, PermanentError)
    assert "portfolio-margin account" in str(error) and "guard supports" in str(error)


async def test_service_when_venue_bans_then_both_accounts_fail_without_requests_and_one_alert(
    sqlite_store: Store,
) -> None:
    time = FakeTime()
    second = replace(CASE.config(), name="bn-second")
    gateway = CcxtGateway(
        "binance",
        [CASE.config(), second],
        settings=settings(),
        environ=ENV,
        clock=time.clock,
        sleep=time.sleep,
    )
    wire = Wire()
    for name in (CASE.account, "bn-second"):
        wire.attach(gateway.client(name))
    wire.attach(gateway.public)
    banned_once(gateway.client(CASE.account), "90")
    policies = load_policies([ROOT / "policies" / "default.yaml"])
    guard = GuardService(
        store=sqlite_store,
        accounts={
            name: AccountRuntime(
                name=name,
                rules=rules_for("binance"),
                gateway=DryRunGateway(gateway),
                policies=policies,
                dry_run=True,
            )
            for name in (CASE.account, "bn-second")
        },
        clock=time.clock,
    )
    try:
        with replay("binance", "snapshot"):
            first = await guard.tick(CASE.account)
            sent = len(wire.sent)
            other = await guard.tick("bn-second")
    finally:
        await gateway.close()
    assert first.error is not None and "DDoSProtection" in first.error
    assert other.error is not None and "not sent, venue-wide rate-limit cool-down" in other.error
    assert len(wire.sent) == sent  # the second account's tick reached nothing
    alerts = [a for a in guard.notifier.sent if a.kind is AlertKind.RATE_LIMITED]
    assert (
        len(alerts) == 1 and alerts[0].title == "guard rate_limited: binance rate-limited"
    )  # one per venue
    assert sqlite_store.count_events("error", CASE.account) == 1
    assert sqlite_store.count_events("error", "bn-second") == 1
    assert "venue" in guard.health.reasons["bn-second"]


async def test_service_when_venue_cools_down_then_health_metrics_audit_and_one_alert_per_cooldown(
    sqlite_store: Store,
) -> None:
    time = FakeTime()
    gateway = CcxtGateway(
        "binance",
        [CASE.config()],
        settings=settings(),
        environ=ENV,
        clock=time.clock,
        sleep=time.sleep,
    )
    client = gateway.client(CASE.account)
    original, bans = client.fetch, [True]

    async def fetch(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        if "positionRisk" in url and bans[0]:
            bans[0] = False
            client.last_response_headers = {"Retry-After": "90"}
            client.handle_http_status_code(418, "I'm a teapot", url, method, "")
        return await original(url, method, headers, body)

    client.fetch = fetch
    health = Health()
    guard = GuardService(
        store=sqlite_store,
        accounts={
            CASE.account: AccountRuntime(
                name=CASE.account,
                rules=rules_for("binance"),
                gateway=DryRunGateway(gateway),
                policies=load_policies([ROOT / "policies" / "default.yaml"]),
                dry_run=True,
            )
        },
        clock=time.clock,
        health=health,
        metrics=Metrics(health),
    )
    assert guard.metrics is not None

    def alerts() -> int:
        return sum(a.kind is AlertKind.RATE_LIMITED for a in guard.notifier.sent)

    try:
        with replay("binance", "snapshot"):
            await guard.tick(CASE.account)
            cooling = health.status()[1]
            metrics = guard.metrics.render().decode()
            await guard.tick(CASE.account)  # still cooling down: no second alert
            assert alerts() == 1
            time.now += timedelta(seconds=91)
            time.wake.set()
            await asyncio.sleep(0)  # the gate reopens
            after = guard.metrics.render().decode()
            bans[0] = True
            await guard.tick(CASE.account)  # a second ban: a second cool-down
    finally:
        await gateway.close()
    assert any("venue binance: rate-limit cool-down, 90 s left" in r for r in cooling)
    assert 'guard_venue_cooldown_active{venue="binance"} 1.0' in metrics
    assert 'guard_venue_cooldown_seconds{venue="binance"} 90.0' in metrics
    assert 'guard_venue_cooldown_active{venue="binance"} 0.0' in after
    assert alerts() == 2  # one per cool-down
    cooldown_rows = sqlite_store.count_events("error") - sqlite_store.count_events(
        "error", CASE.account
    )
    assert cooldown_rows == 2  # audited once per cool-down (the service's chain)
