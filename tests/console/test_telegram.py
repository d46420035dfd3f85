"""The Telegram console end to end against a local fake Bot API: roles (viewer reads, operator
acts), an unknown chat refused and audited, flatten only after its confirm button, alerts with
a lock button; and on a running paper service, a lock sent from chat holds back the next ticks."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from guard.operator.console.actions import ConsoleCommands
from guard.operator.console.http import install_console
from guard.operator.console.telegram import TelegramConsole
from guard.service.config import ChatAccess, SecretRef, Telegram
from guard.service.logs import configure
from guard.service.notify import AlertKind, SentAlert
from guard.service.runner import Runner
from guard.store import Store
from tests.console.fake_telegram import BOT_TOKEN, FakeBotApi
from tests.service.helpers import POLICY

OPERATOR, VIEWER, STRANGER = 1001, 2002, 3003


@pytest.fixture(autouse=True)
def _quiet_logs() -> None:
    configure(stream=open(os.devnull, "w"))  # noqa: SIM115


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotApi]:
    api = FakeBotApi()
    await api.start()
    yield api
    await api.stop()


@pytest.fixture
async def chat(fake: FakeBotApi, store: Store) -> AsyncIterator[TelegramConsole]:
    settings = Telegram(
        bot_token=SecretRef(env="UNUSED"),
        chats=(ChatAccess(id=OPERATOR, role="operator"), ChatAccess(id=VIEWER, role="viewer")),
        api_url=fake.url,
        poll_timeout=timedelta(seconds=1),
    )
    console = TelegramConsole(ConsoleCommands(store), settings, BOT_TOKEN)
    await console.start()
    yield console
    await console.stop()


def _to(chat_id: int, words: str) -> Any:
    return lambda m: int(m["chat_id"]) == chat_id and words in m["text"]


def _count(tmp: Path, kind: str) -> int:
    store = Store(f"sqlite:///{tmp / 'guard.db'}")
    try:
        return store.count_events(kind)
    finally:
        store.dispose()


def _refused(store: Store) -> list[Any]:
    return [e for e in store.events() if e.kind == "operator_refused"]


async def test_status_when_viewer_then_answered_and_lock_refused_and_audited(
    fake: FakeBotApi, chat: TelegramConsole, store: Store
) -> None:
    fake.type(VIEWER, "/status")
    await fake.wait_for(_to(VIEWER, "acct: active"))
    fake.type(VIEWER, "/lock acct 30m looks bad")
    await fake.wait_for(_to(VIEWER, "refused: lock needs the operate scope"))
    assert store.locks(datetime.now(UTC)) == []
    (refusal,) = _refused(store)
    assert refusal.actor == f"telegram:{VIEWER}" and refusal.payload["via"] == "telegram"


async def test_command_when_chat_not_allow_listed_then_refused_and_audited(
    fake: FakeBotApi, chat: TelegramConsole, store: Store
) -> None:
    fake.type(STRANGER, "/pause now")
    await fake.wait_for(_to(STRANGER, "not allowed"))
    assert store.locks(datetime.now(UTC)) == []
    (refusal,) = _refused(store)
    assert refusal.actor == f"telegram:{STRANGER}" and refusal.payload["why"] == "unauthenticated"


async def test_lock_when_operator_then_set_with_ttl_then_unlock_clears(
    fake: FakeBotApi, chat: TelegramConsole, store: Store
) -> None:
    fake.type(OPERATOR, "/lock acct 30m venue maintenance")
    await fake.wait_for(_to(OPERATOR, "set lock #1 on acct"))
    (lock,) = store.locks(datetime.now(UTC))
    assert lock.actor == f"telegram:{OPERATOR}" and lock.reason == "venue maintenance"
    assert lock.expires_at is not None
    assert timedelta(minutes=29) < lock.expires_at - lock.created_at <= timedelta(minutes=30)
    fake.type(OPERATOR, "/unlock acct")
    await fake.wait_for(_to(OPERATOR, "cleared lock #1"))
    assert store.locks(datetime.now(UTC)) == []


async def test_flatten_when_operator_then_only_the_confirm_button_queues_it_once(
    fake: FakeBotApi, chat: TelegramConsole, store: Store
) -> None:
    fake.type(OPERATOR, "/flatten acct too risky")
    asked = await fake.wait_for(_to(OPERATOR, "reduce-only"))
    assert store.pending_requests() == []
    (confirm, cancel) = asked["reply_markup"]["inline_keyboard"][0]
    assert confirm["callback_data"].startswith("fc:") and cancel["callback_data"].startswith("fx:")
    fake.press(VIEWER, confirm["callback_data"])  # a viewer pressing it is refused
    await fake.wait_for(_to(VIEWER, "refused: flatten needs the operate scope"))
    assert store.pending_requests() == []
    fake.type(OPERATOR, "/flatten acct too risky")
    asked = await fake.wait_for(lambda m: "reduce-only" in m["text"] and m is not asked)
    data = asked["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    fake.press(OPERATOR, data)
    await fake.wait_for(_to(OPERATOR, "requested"))
    (request,) = store.pending_requests()
    assert request.actor == f"telegram:{OPERATOR}" and request.reason == "too risky"
    fake.press(OPERATOR, data)
    await fake.wait_for(_to(OPERATOR, "expired or was used"))
    assert len(store.pending_requests()) == 1


async def test_alert_when_about_an_account_then_operators_get_a_lock_button_that_locks(
    fake: FakeBotApi, chat: TelegramConsole, store: Store
) -> None:
    await chat.on_alert(
        SentAlert(AlertKind.BREACH, "k", "guard breach: acct", "margin 80%", "acct")
    )
    to_operator = await fake.wait_for(_to(OPERATOR, "margin 80%"))
    to_viewer = await fake.wait_for(_to(VIEWER, "margin 80%"))
    assert "reply_markup" not in to_viewer
    (button,) = to_operator["reply_markup"]["inline_keyboard"][0]
    assert button["text"] == "lock acct for 30 min"
    fake.press(OPERATOR, button["callback_data"])
    await fake.wait_for(_to(OPERATOR, "for 30 min"))
    (lock,) = store.locks(datetime.now(UTC))
    assert lock.account == "acct" and lock.actor == f"telegram:{OPERATOR}"


async def test_lock_when_sent_from_chat_then_running_paper_service_sends_nothing(
    tmp_path: Path, fake: FakeBotApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GUARD_TEST_BOT_TOKEN", BOT_TOKEN)
    path = tmp_path / "guard.yaml"
    path.write_text(
        f"""
version: 1
service:
  database_url: sqlite:///{tmp_path / "guard.db"}
  create_schema: true
  housekeeping: 1h
  console:
    telegram:
      bot_token: {{env: GUARD_TEST_BOT_TOKEN}}
      api_url: {fake.url}
      poll_timeout: 1s
      chats: [{{id: {OPERATOR}, role: operator}}]
accounts:
  - name: sim
    venue: paper
    speed: 120
    start: 40m
    until: 120m
    state_file: {tmp_path / "paper.json"}
    policies: [{POLICY}]
    poll_interval: 0.2s
"""
    )
    runner = Runner(path, install_signals=False)
    install_console(runner)
    task = asyncio.create_task(runner.run())
    try:
        await fake.wait_for(_to(OPERATOR, "started"))  # alerts reach the chat
        fake.type(OPERATOR, "/lock sim from the phone")
        await fake.wait_for(_to(OPERATOR, "set lock #1 on sim"))
        breach = await fake.wait_for(_to(OPERATOR, "guard breach: sim"), timeout=45)
        button = breach["reply_markup"]["inline_keyboard"][0][0]
        assert button["text"] == "lock sim for 30 min"
        deadline = time.monotonic() + 45
        while _count(tmp_path, "order_suppressed") == 0:  # the ladder wanted to reduce: held
            assert time.monotonic() < deadline, "the scenario never wanted to reduce"
            await asyncio.sleep(0.2)
    finally:
        runner.request_stop()
        await asyncio.wait_for(task, 30)
    store = Store(f"sqlite:///{tmp_path / 'guard.db'}")
    try:
        assert store.count_events("order_suppressed") >= 1
        assert store.count_events("order_sent") == 0
    finally:
        store.dispose()
    assert json.loads((tmp_path / "paper.json").read_text())["received"] == []
