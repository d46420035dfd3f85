"""The console served by a running paper service, end to end: a lock set through the API holds
back the service's next tick (nothing reaches the venue, the held order is audited), the
positions carry their liquidation distance and band, and the web page in a real headless
browser renders the accounts and sets a lock that shows in the audit."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from guard.operator.console.http import install_console
from guard.operator.console.live import band
from guard.service.logs import configure
from guard.service.runner import Runner
from guard.store import Scope, Store
from tests.service.helpers import POLICY

CONFIG = """
version: 1
service:
  database_url: sqlite:///{db}
  create_schema: true
  housekeeping: 1h
  console:
    port: 0
accounts:
  - name: sim
    venue: paper
    speed: {speed}
    start: 40m
    until: 120m
    state_file: {state}
    policies: [{policy}]
    poll_interval: 0.2s
"""


LADDER = ("0.12", "0.08", "0.05", "0.03")  # the liquidation ladder of the default policy


@dataclass
class Live:
    runner: Runner
    base: str
    secret: str
    tmp: Path


@pytest.fixture(autouse=True)
def _quiet_logs() -> None:
    configure(stream=open(os.devnull, "w"))  # noqa: SIM115


async def _start(tmp_path: Path, speed: int) -> tuple[Runner, asyncio.Task[int], str]:
    path = tmp_path / "guard.yaml"
    path.write_text(
        CONFIG.format(
            db=tmp_path / "guard.db", state=tmp_path / "paper.json", policy=POLICY, speed=speed
        )
    )
    runner = Runner(path, install_signals=False)
    install_console(runner)
    task = asyncio.create_task(runner.run())
    deadline = time.monotonic() + 20
    while not (runner.endpoints and runner.endpoints[0].bound):
        assert time.monotonic() < deadline, "the console never opened"
        await asyncio.sleep(0.02)
    host, port = runner.endpoints[0].bound[0]
    assert host == "127.0.0.1"  # loopback by default
    return runner, task, f"http://{host}:{port}"


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    runner, task, base = await _start(tmp_path, speed=120)
    _, secret = runner.store.create_token(
        name="ops", scope=Scope.OPERATE, actor="test", at=datetime.now(UTC)
    )
    try:
        yield Live(runner, base, secret, tmp_path)
    finally:
        runner.request_stop()
        await asyncio.wait_for(task, 30)


async def _api(live: Live, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {live.secret}"}
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, live.base + path, json=body, headers=headers) as reply,
    ):
        return reply.status, await reply.json()


def _count(tmp: Path, kind: str) -> int:
    store = Store(f"sqlite:///{tmp / 'guard.db'}")
    try:
        return store.count_events(kind)
    finally:
        store.dispose()


async def test_lock_when_set_through_the_api_then_next_ticks_send_nothing_and_audit_the_hold(
    live: Live,
) -> None:
    status, lock = await _api(live, "POST", "/api/locks", {"account": "sim", "reason": "e2e"})
    assert status == 200 and lock["actor"] == "token:ops"
    deadline = time.monotonic() + 45
    while _count(live.tmp, "order_suppressed") == 0:  # the crash reaches the ladder bands
        assert time.monotonic() < deadline, "the scenario never wanted to reduce"
        await asyncio.sleep(0.2)
    assert _count(live.tmp, "order_sent") == 0
    received = json.loads((live.tmp / "paper.json").read_text())["received"]
    assert received == []
    status, positions = await _api(live, "GET", "/api/positions")
    assert status == 200
    (position, *_) = positions["sim"]
    distance = Decimal(position["liquidation_distance"])
    assert [Decimal(t) for t in position["bands"]] == [Decimal(t) for t in LADDER]
    assert position["band"] == band(distance, [Decimal(t) for t in LADDER])
    status, overview = await _api(live, "GET", "/api/overview")
    (account,) = overview["accounts"]
    assert account["mode"] == "locked" and account["active_locks"][0]["id"] == lock["id"]


async def test_lock_when_not_set_then_the_same_run_sends_orders(tmp_path: Path) -> None:
    """The control of the test above: without the lock the scenario does reach the venue."""
    runner, task, _ = await _start(tmp_path, speed=120)
    try:
        deadline = time.monotonic() + 45
        while _count(tmp_path, "order_sent") == 0:
            assert time.monotonic() < deadline, "no order without the lock either"
            await asyncio.sleep(0.2)
    finally:
        runner.request_stop()
        await asyncio.wait_for(task, 30)


def _browser() -> Any:
    chromium = shutil.which("chromium")
    driver_path = shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        if os.environ.get("GUARD_REQUIRE_BROWSER") == "1":
            pytest.fail("GUARD_REQUIRE_BROWSER=1 but chromium/chromedriver are not installed")
        pytest.skip("chromium and chromium-driver are not installed (apt-get install -y ...)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    options.add_argument("--window-size=1280,800")
    return webdriver.Chrome(service=Service(executable_path=driver_path), options=options)


async def test_page_when_opened_in_a_headless_browser_then_accounts_render_and_lock_is_audited(
    live: Live,
) -> None:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    driver = await asyncio.to_thread(_browser)
    # the page re-renders its tables every 3 s: an element found just before may be replaced
    stale = (StaleElementReferenceException,)

    def click_in_row(button: str) -> None:
        WebDriverWait(driver, 20, ignored_exceptions=stale).until(
            lambda d: (
                d.find_element(By.CSS_SELECTOR, f"tr[data-account='sim'] button.{button}").click()
                is None
            )
        )

    def render_and_lock() -> tuple[str, str]:
        driver.get(f"{live.base}/#token={live.secret}")
        wait = WebDriverWait(driver, 20, ignored_exceptions=stale)
        wait.until(
            expected_conditions.presence_of_element_located(
                (By.CSS_SELECTOR, "tr[data-account='sim'] .position")
            )
        )
        assert live.secret not in driver.current_url  # the token leaves the address bar
        before = wait.until(
            lambda d: d.find_element(By.CSS_SELECTOR, "tr[data-account='sim']").text
        )
        driver.execute_script("window.confirm = () => true;")
        click_in_row("lock")
        wait.until(
            lambda d: "locked" in d.find_element(By.CSS_SELECTOR, "tr[data-account='sim']").text
        )
        shot = os.environ.get("GUARD_CONSOLE_SCREENSHOT")
        if shot:
            driver.save_screenshot(shot)
        locks = wait.until(lambda d: d.find_element(By.ID, "locks").text)
        driver.execute_script("window.prompt = () => 'flatten from the page';")
        click_in_row("flatten")
        wait.until(lambda d: "requested" in d.find_element(By.ID, "msg").text)
        return before, locks

    try:
        before, locks = await asyncio.to_thread(render_and_lock)
    finally:
        await asyncio.to_thread(driver.quit)
    assert "sim (paper)" in before and "%" in before
    assert "locked from the console" in locks
    store = Store(f"sqlite:///{live.tmp / 'guard.db'}")
    try:
        (event,) = [e for e in store.events() if e.kind == "lock_set"]
    finally:
        store.dispose()
    assert event.actor == "token:ops" and event.account == "sim"
    assert event.payload["expires_at"] is not None  # the page's lock is for 30 minutes
    # the page's flatten is carried out by the service through its egress gate, overriding the
    # lock by design (audited as such), reduce-only
    deadline = time.monotonic() + 30
    while _count(live.tmp, "flatten_completed") == 0:
        assert time.monotonic() < deadline, "the service never carried out the flatten"
        await asyncio.sleep(0.2)
    store = Store(f"sqlite:///{live.tmp / 'guard.db'}")
    try:
        (asked,) = [e for e in store.events() if e.kind == "flatten_requested"]
        (done,) = [e for e in store.events() if e.kind == "flatten_completed"]
        overrides = [e for e in store.events() if e.kind == "lock_overridden"]
        intents = [
            i for i in store.intents("sim") if f"flatten #{asked.payload['request_id']}" in i.reason
        ]
    finally:
        store.dispose()
    assert asked.actor == "token:ops" and asked.payload["reason"] == "flatten from the page"
    assert done.payload["status"] == "done", done.message
    assert overrides and all(o.actor == "token:ops" for o in overrides)
    # the paper venue accepts reduce-only orders only; the positions are long: sells, filled
    assert intents and all(i.side == "sell" and i.status.value == "filled" for i in intents)
