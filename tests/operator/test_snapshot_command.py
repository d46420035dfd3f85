"""`guard snapshot` on the replayed venues: the saved file is what `guard inspect` reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from guard.operator.cli import app
from tests.gateway.cases import API_BASE, CANARIES, CASES, ENV
from tests.gateway.helpers import replay

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def canary_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, " ".join((result.stdout + " " + result.stderr).split())


def test_snapshot_when_venue_and_env_options_given_then_file_feeds_guard_inspect(
    tmp_path: Path,
) -> None:
    out = tmp_path / "bn.json"
    with replay("binance", "snapshot"):
        code, text = invoke(
            "snapshot", "--account", CASES["binance"].account, "--out", str(out),
            "--venue", "binance", "--key-env", "GUARD_TEST_KEY",
            "--secret-env", "GUARD_TEST_SECRET", "--api-base", f"{API_BASE}/binance",
        )  # fmt: skip
    assert code == 0, text
    saved = json.loads(out.read_text())
    assert {"positions", "balance", "markets", "funding_rates", "account_info"} <= set(saved)
    assert saved["positions"][0]["symbol"] == "BTC/USDT:USDT"
    assert not [c for c in CANARIES if c in out.read_text() + text]
    code, text = invoke("inspect", "--venue", "binance", "--snapshot", str(out), "--json")
    assert code == 0, text
    assert '"symbol": "BTC/USDT:USDT"' in text


def test_snapshot_when_account_comes_from_guard_yaml_then_saved(tmp_path: Path) -> None:
    config = tmp_path / "guard.yaml"
    config.write_text(
        "version: 1\n"
        "accounts:\n"
        "  - name: okx-main\n"
        "    venue: okx\n"
        f"    policies: [{ROOT / 'policies' / 'default.yaml'}]\n"
        "    credentials:\n"
        "      apiKey: {env: GUARD_TEST_KEY}\n"
        "      secret: {env: GUARD_TEST_SECRET}\n"
        "      password: {env: GUARD_TEST_PASSWORD}\n"
    )
    out = tmp_path / "okx.json"
    with replay("okx", "snapshot"):
        code, text = invoke(
            "snapshot", "--account", "okx-main", "--out", str(out), "--config", str(config),
            "--api-base", f"{API_BASE}/okx",
        )  # fmt: skip
    assert code == 0, text
    saved = json.loads(out.read_text())
    assert saved["venue"] == "okx" and saved["markets"]["BTC/USDT:USDT"]["contractSize"] == 0.01


def test_snapshot_when_credential_variable_is_unset_then_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GUARD_TEST_SECRET")
    with replay("binance", "snapshot"):
        code, text = invoke(
            "snapshot", "--account", "a", "--out", str(tmp_path / "x.json"), "--venue", "binance",
            "--key-env", "GUARD_TEST_KEY", "--secret-env", "GUARD_TEST_SECRET",
            "--api-base", f"{API_BASE}/binance",
        )  # fmt: skip
    assert code == 1
    assert "environment variable GUARD_TEST_SECRET is unset" in text
    assert not (tmp_path / "x.json").exists()


def test_snapshot_when_venue_unknown_then_usage_error(tmp_path: Path) -> None:
    code, text = invoke(
        "snapshot", "--account", "a", "--out", str(tmp_path / "x"), "--venue", "ftx"
    )
    assert code == 2 and "--venue must be one of" in text
