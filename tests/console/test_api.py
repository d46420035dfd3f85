"""The console HTTP API: every command with and without the right scope (401/403, nothing
changes, the refusal audited), the two-step flatten, the OpenAPI document, and no token in
any log line."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from guard.operator.console.http import ROUTES
from guard.operator.console.openapi import OPERATIONS
from guard.store import Store
from tests.console.conftest import Served

# (method, path, body, scope needed, status with the right scope)
COMMANDS: list[tuple[str, str, dict[str, Any] | None, str, int]] = [
    ("GET", "/api/status", None, "read", 200),
    ("GET", "/api/positions", None, "read", 503),  # not a running service here
    ("GET", "/api/overview", None, "read", 200),
    ("GET", "/api/locks", None, "read", 200),
    ("GET", "/api/audit?limit=5", None, "read", 200),
    ("GET", "/api/audit/verify", None, "read", 200),
    (
        "POST",
        "/api/locks",
        {"account": "acct", "reason": "maintenance", "ttl": "30m"},
        "operate",
        200,
    ),
    ("DELETE", "/api/locks/1", None, "operate", 404),
    ("POST", "/api/unlock", {"account": "acct"}, "operate", 409),
    ("POST", "/api/pause", {"reason": "venue incident"}, "operate", 200),
    ("POST", "/api/resume", {"reason": "over"}, "operate", 409),
    ("POST", "/api/flatten", {"account": "acct", "reason": "manual"}, "operate", 200),
    ("POST", "/api/reload", {}, "operate", 503),
]


def _state(store: Store) -> tuple[int, int, int]:
    """What a command could change: locks, requests, audit rows other than refusals."""
    at = datetime.now(UTC)
    changes = sum(1 for e in store.events() if e.kind not in ("operator_refused", "token_created"))
    return len(store.locks(at, include_inactive=True)), len(store.pending_requests()), changes


async def _call(
    served: Served, method: str, path: str, body: dict[str, Any] | None, secret: str | None
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, served.base + path, json=body, headers=headers) as reply,
    ):
        return reply.status, await reply.json()


def test_routes_when_listed_then_every_one_has_an_openapi_operation_and_a_test() -> None:
    assert set(ROUTES) == set(OPERATIONS)
    tested = {(m, p.split("?")[0]) for m, p, *_ in COMMANDS}
    assert {(m, p.replace("{lock_id}", "1")) for m, p in ROUTES} == tested


@pytest.mark.parametrize(("method", "path", "body", "needs", "ok"), COMMANDS)
async def test_command_when_no_or_unknown_token_then_401_nothing_changes_and_audited(
    served: Served, method: str, path: str, body: dict[str, Any] | None, needs: str, ok: int
) -> None:
    before = _state(served.store)
    for secret in (None, "guard_not-a-real-token"):
        status, reply = await _call(served, method, path, body, secret)
        assert status == 401, reply
    assert _state(served.store) == before
    refused = [e for e in served.store.events() if e.kind == "operator_refused"]
    assert len(refused) == 2
    assert all(e.actor == "anonymous" and e.payload["why"] == "unauthenticated" for e in refused)


@pytest.mark.parametrize(("method", "path", "body", "needs", "ok"), COMMANDS)
async def test_command_when_read_token_then_only_read_commands_pass_others_403_audited(
    served: Served, method: str, path: str, body: dict[str, Any] | None, needs: str, ok: int
) -> None:
    before = _state(served.store)
    status, reply = await _call(served, method, path, body, served.read)
    if needs == "read":
        assert status == ok, reply
        return
    assert status == 403, reply
    assert "needs the operate scope" in reply["error"]
    assert _state(served.store) == before
    (refused,) = [e for e in served.store.events() if e.kind == "operator_refused"]
    assert refused.actor == "token:viewer" and refused.payload["why"] == "forbidden"


@pytest.mark.parametrize(("method", "path", "body", "needs", "ok"), COMMANDS)
async def test_command_when_operate_token_then_carried_out(
    served: Served, method: str, path: str, body: dict[str, Any] | None, needs: str, ok: int
) -> None:
    status, reply = await _call(served, method, path, body, served.operate)
    assert status == ok, reply


async def test_lock_when_operate_token_then_set_with_the_token_as_actor_and_audited(
    served: Served,
) -> None:
    status, reply = await _call(
        served,
        "POST",
        "/api/locks",
        {"account": "acct", "market": "BTC", "reason": "x"},
        served.operate,
    )
    assert status == 200
    assert reply["market"] == "BTC/USDT:USDT" and reply["actor"] == "token:ops"
    (event,) = [e for e in served.store.events() if e.kind == "lock_set"]
    assert event.actor == "token:ops" and event.account == "acct"
    status, reply = await _call(served, "DELETE", f"/api/locks/{reply['id']}", None, served.operate)
    assert status == 200 and reply[0]["state"] == "cleared"


async def test_flatten_when_not_confirmed_or_wrong_token_then_nothing_queued(
    served: Served,
) -> None:
    ask = {"account": "acct", "reason": "manual", "fraction": "0.5"}
    status, first = await _call(served, "POST", "/api/flatten", ask, served.operate)
    assert status == 200 and first["confirm"] and "50" in first["what"]
    assert served.store.pending_requests() == []
    wrong = await _call(served, "POST", "/api/flatten", {**ask, "confirm": "nope"}, served.operate)
    assert wrong[0] == 409
    other = {**ask, "fraction": "1", "confirm": first["confirm"]}  # token for another request
    assert (await _call(served, "POST", "/api/flatten", other, served.operate))[0] == 409
    assert served.store.pending_requests() == []
    _, again = await _call(served, "POST", "/api/flatten", ask, served.operate)
    status, done = await _call(
        served, "POST", "/api/flatten", {**ask, "confirm": again["confirm"]}, served.operate
    )
    assert status == 200
    (request,) = served.store.pending_requests()
    assert request.id == done["request_id"] and request.actor == "token:ops"
    reused = await _call(
        served, "POST", "/api/flatten", {**ask, "confirm": again["confirm"]}, served.operate
    )
    assert reused[0] == 409 and len(served.store.pending_requests()) == 1


async def test_input_when_bad_then_400_naming_the_field_and_audited(served: Served) -> None:
    cases = [
        ({"account": "acct", "reason": "x", "ttl": "soon"}, "ttl"),
        ({"account": "nope", "reason": "x"}, "unknown account"),
        ({"account": "acct"}, "needs a reason"),
        ({"account": "acct", "market": "DOGE", "reason": "x"}, "DOGE"),
    ]
    for body, named in cases:
        status, reply = await _call(served, "POST", "/api/locks", body, served.operate)
        assert status in (400, 404) and named in reply["error"], reply
    assert served.store.locks(datetime.now(UTC)) == []
    assert sum(1 for e in served.store.events() if e.kind == "operator_refused") == len(cases)


async def test_token_when_revoked_then_401(served: Served) -> None:
    served.store.revoke_token("ops", actor="test", at=datetime.now(UTC))
    status, _ = await _call(served, "GET", "/api/status", None, served.operate)
    assert status == 401


async def test_metrics_when_token_required_then_401_without_and_served_with(served: Served) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(served.base + "/metrics") as reply:
            assert reply.status == 401
        auth = {"Authorization": f"Bearer {served.read}"}
        async with http.get(served.base + "/metrics", headers=auth) as reply:
            assert reply.status == 200 and "guard_ticks" in await reply.text()
        async with http.get(served.base + "/health") as reply:
            assert reply.status == 200
        async with http.get(served.base + "/openapi.json") as reply:
            document = await reply.json()
    assert document["paths"]["/api/flatten"]["post"]["x-scope"] == "operate"


async def test_logs_when_requests_with_tokens_then_no_secret_in_any_line(served: Served) -> None:
    for method, path, body, _, _ in COMMANDS:
        for secret in (served.read, served.operate, "guard_wrong-secret-123"):
            await _call(served, method, path, body, secret)
    text = served.logs.getvalue()
    assert "console_request" in text and "token:ops" in text
    for secret in (served.read, served.operate, "guard_wrong-secret-123"):
        assert secret not in text
    for event in served.store.events():
        assert served.operate not in str(event.payload) + event.message
