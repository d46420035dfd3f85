"""Config, policy and scenario files never crash the loader: bad bytes and absurd numbers become the
usual file:line: field: message ConfigError."""

from __future__ import annotations

from pathlib import Path

import pytest

from guard.core.yaml_model import ConfigError
from guard.gateway.paper.scenarios import load_scenario_file
from guard.service import logs
from guard.service.assembly import notifier_for
from guard.service.config import load_config
from guard.service.files import load_policies
from tests.operator.conftest import run
from tests.service.helpers import POLICY


def _config(tmp_path: Path, interval: str) -> Path:
    path = tmp_path / "guard.yaml"
    path.write_text(
        f"version: 1\naccounts:\n  - name: a\n    venue: paper\n    policies: [{POLICY}]\n"
        f"    poll_interval: {interval}\n"
    )
    return path


@pytest.mark.parametrize("interval", [".inf", "-.inf", ".nan", "1e40", "99999999999d"])
def test_load_config_when_duration_not_finite_or_absurd_then_error_names_line_and_field(
    tmp_path: Path, interval: str
) -> None:
    path = _config(tmp_path, interval)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert f"{path}:6: accounts[0].poll_interval: " in str(caught.value)


def test_load_config_when_file_not_utf8_then_error_names_line_of_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "guard.yaml"
    path.write_bytes(b"version: 1\n# caf\xe9\naccounts: []\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == (f"{path}:2: not UTF-8 text (byte 0xe9); save the file as UTF-8")


def test_load_policies_when_file_not_utf8_then_error_not_crash(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(POLICY.read_bytes() + b"\n# \xff\xfe\n")
    with pytest.raises(ConfigError) as caught:
        load_policies([path])
    assert "not UTF-8 text (byte 0xff)" in str(caught.value)
    assert str(caught.value).startswith(f"{path}:")


def test_load_scenario_when_file_not_utf8_then_error_not_crash(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_bytes(b"name: x\n\x80\n")
    with pytest.raises(ConfigError) as caught:
        load_scenario_file(path)
    assert str(caught.value).startswith(f"{path}:2: not UTF-8 text")


@pytest.mark.parametrize("interval", ["0s", "0", "0.0m"])
def test_load_config_when_poll_interval_not_positive_then_error_names_line_and_field(
    tmp_path: Path, interval: str
) -> None:
    path = _config(tmp_path, interval)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == (
        f"{path}:6: accounts[0].poll_interval: "
        "must be a positive duration (e.g. '5s', '2m'), not zero or negative"
    )


@pytest.mark.parametrize(
    ("setting", "field"),
    [
        ("housekeeping: 0s", "service.housekeeping"),
        ("staleness: 0m", "service.staleness"),
        ("misfire_grace: 0s", "service.misfire_grace"),
        ("shutdown_grace: 0s", "service.shutdown_grace"),
        ("audit_heartbeat: 0s", "service.audit_heartbeat"),
        ("breakers: {window: 0s}", "service.breakers.window"),
    ],
)
def test_load_config_when_service_duration_not_positive_then_error_names_line_and_field(
    tmp_path: Path, setting: str, field: str
) -> None:
    path = tmp_path / "guard.yaml"
    path.write_text(
        f"version: 1\nservice:\n  {setting}\naccounts:\n"
        f"  - name: a\n    venue: paper\n    policies: [{POLICY}]\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}:3: {field}: must be a positive duration")


def _alerting(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "guard.yaml"
    path.write_text(
        f"version: 1\nservice:\n  database_url: sqlite:///{tmp_path / 'g.db'}\n"
        f"  create_schema: true\n  alerts:\n    urls:\n      - {url}\n"
        f"accounts:\n  - name: a\n    venue: paper\n    policies: [{POLICY}]\n"
    )
    return path


def test_notifier_for_when_alert_env_var_missing_then_config_error_names_line_and_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PAPERCUTS_NO_SUCH_HOOK", raising=False)
    path = _alerting(tmp_path, "{env: PAPERCUTS_NO_SUCH_HOOK}")
    with pytest.raises(ConfigError) as caught:
        notifier_for(load_config(path))
    assert str(caught.value) == (
        f"{path}:7: service.alerts.urls[0]: "
        "environment variable PAPERCUTS_NO_SUCH_HOOK is not set or empty"
    )


def test_run_when_alert_url_is_the_readme_placeholder_then_exit_2_naming_line_and_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `guard run` would point the logs at the runner's captured stdout, closed after the command
    monkeypatch.setattr(logs, "configure", lambda *args, **kwargs: None)
    path = _alerting(tmp_path, '"slack://..."')
    ran = run("run", "--config", str(path))
    assert ran.code == 2
    assert f"{path}:7: service.alerts.urls[0]: not a usable apprise URL: slack://…" in ran.err
    assert "ValueError" not in ran.text
