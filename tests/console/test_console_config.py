"""Console settings that cannot be used are refused at start with file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from guard.core.yaml_model import ConfigError
from guard.operator.console.http import install_console
from guard.service.runner import Runner
from tests.service.helpers import POLICY

CONFIG = """version: 1
service:
  database_url: sqlite:///{db}
  create_schema: true
  console:
{console}
accounts:
  - name: sim
    venue: paper
    policies: [{policy}]
"""


def _write(tmp_path: Path, console: str) -> Path:
    path = tmp_path / "guard.yaml"
    path.write_text(CONFIG.format(db=tmp_path / "guard.db", console=console, policy=POLICY))
    return path


def test_start_when_telegram_token_variable_missing_then_config_error_names_the_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GUARD_NO_SUCH_TOKEN", raising=False)
    path = _write(
        tmp_path,
        "    telegram:\n      bot_token: {env: GUARD_NO_SUCH_TOKEN}\n"
        "      chats: [{id: 1, role: operator}]",
    )
    runner = Runner(path, install_signals=False)
    try:
        with pytest.raises(ConfigError) as caught:
            install_console(runner)
    finally:
        runner.store.dispose()
    text = str(caught.value)
    assert str(path) in text and "service.console.telegram.bot_token" in text
    assert "GUARD_NO_SUCH_TOKEN is not set" in text


def test_load_when_chat_role_unknown_then_config_error_names_the_field(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "    telegram:\n      bot_token: {env: X}\n      chats: [{id: 1, role: admin}]",
    )
    with pytest.raises(ConfigError) as caught:
        Runner(path, install_signals=False)
    assert "service.console.telegram.chats[0].role" in str(caught.value)


def test_start_when_heartbeat_url_variable_missing_then_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GUARD_NO_SUCH_URL", raising=False)
    path = _write(tmp_path, "    heartbeat_url: {env: GUARD_NO_SUCH_URL}")
    with pytest.raises(ConfigError) as caught:
        Runner(path, install_signals=False)
    assert "service.console.heartbeat_url" in str(caught.value)
