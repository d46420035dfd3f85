"""guard.yaml validation (file:line: field errors, secret references), apprise alerts
(deduplicated, rate-limited, delivered to a local webhook), metrics and the health endpoint."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from guard.core.yaml_model import ConfigError
from guard.service.assembly import build_paper
from guard.service.config import GuardConfig, SecretRef, load_config
from guard.service.files import validate_file
from guard.service.metrics import Health, Metrics
from guard.service.notify import AlertKind, Notifier
from guard.service.web import WebEndpoint
from tests.service.helpers import POLICY, ROOT


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "guard.yaml"
    path.write_text(text)
    return path


def test_load_when_example_config_then_paper_account_with_resolved_policy() -> None:
    config = load_config(ROOT / "examples" / "guard.paper.yaml")
    account = config.accounts[0]
    assert account.is_paper and account.scenario == "crash"
    assert account.policies[0].resolve() == (ROOT / "policies" / "default.yaml").resolve()
    assert config.service.database().startswith("sqlite:///")
    assert len(config.fingerprint()) == 16


def test_validate_when_docker_example_then_database_url_is_an_env_reference() -> None:
    config = validate_file(ROOT / "examples" / "guard.docker.yaml", GuardConfig)
    assert config.service.database_url == SecretRef(env="GUARD_DATABASE_URL")
    assert config.accounts[0].policies == (Path("/app/policies/default.yaml"),)


def test_load_when_unknown_key_then_error_names_file_line_and_field(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        f"version: 1\naccounts:\n  - name: a\n    venue: paper\n    policies: [{POLICY}]\n"
        "    pol_interval: 5s\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    text = str(caught.value)
    assert f"{path}:6: accounts[0].pol_interval: unknown key" in text


def test_load_when_unknown_venue_then_error_lists_allowed(tmp_path: Path) -> None:
    path = _write(
        tmp_path, f"accounts:\n  - name: a\n    venue: kraken\n    policies: [{POLICY}]\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "'paper'" in str(caught.value) and "'binance'" in str(caught.value)


def test_load_when_policy_file_missing_then_error_names_it(tmp_path: Path) -> None:
    path = _write(tmp_path, "accounts:\n  - name: a\n    venue: paper\n    policies: [nope.yaml]\n")
    with pytest.raises(ConfigError, match=r"accounts\[0\].policies: policy file .*nope.yaml"):
        load_config(path)


def test_load_when_credentials_then_only_references_are_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cr3t\n")
    path = _write(
        tmp_path,
        "accounts:\n  - name: b\n    venue: binance\n"
        f"    policies: [{POLICY}]\n"
        "    credentials:\n      apiKey: {env: TEST_KEY}\n"
        f"      secret: {{file: {secret}}}\n",
    )
    account = load_config(path).accounts[0]
    assert not account.is_paper
    monkeypatch.setenv("TEST_KEY", "k")
    assert account.credentials["apiKey"].resolve() == "k"
    assert account.credentials["secret"].resolve() == "s3cr3t"
    monkeypatch.delenv("TEST_KEY")
    with pytest.raises(ValueError, match="TEST_KEY is not set"):
        account.credentials["apiKey"].resolve()


def test_load_when_secret_ref_names_both_sources_then_error(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "service:\n  database_url: {env: X, file: /y}\n"
        f"accounts:\n  - name: a\n    venue: paper\n    policies: [{POLICY}]\n",
    )
    with pytest.raises(ConfigError, match="exactly one of"):
        load_config(path)


def test_load_when_account_names_repeat_then_error(tmp_path: Path) -> None:
    account = f"  - name: a\n    venue: paper\n    policies: [{POLICY}]\n"
    with pytest.raises(ConfigError, match="used twice"):
        load_config(_write(tmp_path, "accounts:\n" + account + account))


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_admit_when_same_key_within_dedup_then_suppressed_until_window_passes() -> None:
    clock = _Clock()
    notifier = Notifier(dedup_seconds=60, max_per_minute=10, clock=clock)
    assert notifier.admit("breach:a") == "send"
    clock.now = 30
    assert notifier.admit("breach:a") == "duplicate"
    assert notifier.admit("breach:b") == "send"
    clock.now = 61
    assert notifier.admit("breach:a") == "send"
    notifier.forget("breach:a")
    assert notifier.admit("breach:a") == "send"


def test_admit_when_more_than_rate_per_minute_then_dropped() -> None:
    clock = _Clock()
    notifier = Notifier(dedup_seconds=600, max_per_minute=3, clock=clock)
    verdicts = [notifier.admit(f"k{i}") for i in range(5)]
    assert verdicts == ["send"] * 3 + ["rate-limited"] * 2
    clock.now = 61
    assert notifier.admit("k9") == "send"
    assert notifier.dropped == 2


@pytest.fixture
def receiver() -> Iterator[tuple[int, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1]), received
    server.shutdown()
    server.server_close()


async def test_alert_when_apprise_json_url_then_delivered_once_to_local_webhook(
    receiver: tuple[int, list[dict[str, Any]]],
) -> None:
    port, received = receiver
    notifier = Notifier([f"json://127.0.0.1:{port}/hook"], dedup_seconds=600)
    assert await notifier.alert(AlertKind.BREAKER, "a", "acct", "breaker tripped") == "send"
    assert await notifier.alert(AlertKind.BREAKER, "a", "acct", "breaker tripped") == "duplicate"
    assert len(received) == 1
    assert received[0]["title"] == "guard breaker: acct"
    assert received[0]["message"] == "breaker tripped"
    assert notifier.failures == 0


def test_notifier_when_url_is_not_apprise_then_error_hides_token() -> None:
    with pytest.raises(ValueError, match="not a usable apprise URL") as caught:
        Notifier(["nosuchscheme://TOKEN123"])
    assert "TOKEN123" not in str(caught.value)


async def test_endpoint_when_degraded_then_health_503_with_reasons_and_metrics_served() -> None:
    health = Health()
    metrics = Metrics(health)
    metrics.ticks.labels("a", "ok").inc()
    health.succeeded("a")
    endpoint = WebEndpoint(metrics)
    _, port = await endpoint.serve(0, "127.0.0.1")
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/health") as reply:
                assert reply.status == 200
                assert await reply.json() == {"status": "ok", "reasons": []}
            health.degrade("a", "venue", "venue unreachable: outage")
            async with http.get(f"{base}/health") as reply:
                assert reply.status == 503
                body = await reply.json()
            assert body == {"status": "degraded", "reasons": ["a: venue unreachable: outage"]}
            async with http.get(f"{base}/metrics") as reply:
                text = await reply.text()
        assert 'guard_ticks_total{account="a",outcome="ok"} 1.0' in text
        assert 'guard_last_success_age_seconds{account="a"}' in text
    finally:
        await endpoint.close()


def test_load_when_scenario_is_a_relative_file_then_resolved_and_built(tmp_path: Path) -> None:
    source = ROOT / "scenarios" / "flash-crash.yaml"
    (tmp_path / "flash.yaml").write_text(source.read_text())
    path = _write(
        tmp_path,
        f"accounts:\n  - name: a\n    venue: paper\n    scenario: flash.yaml\n"
        f"    policies: [{POLICY}]\n",
    )
    account = load_config(path).accounts[0]
    assert account.scenario == str(tmp_path / "flash.yaml")
    driver = build_paper(account, datetime(2026, 1, 1, tzinfo=UTC))
    assert driver.inner.now == datetime(2026, 1, 1, tzinfo=UTC)
    assert driver.inner.accounts["a"].positions


def test_load_when_paper_only_field_on_real_venue_then_error(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        f"accounts:\n  - name: a\n    venue: okx\n    speed: 10\n    policies: [{POLICY}]\n",
    )
    with pytest.raises(ConfigError, match="speed: only for `venue: paper`"):
        load_config(path)
