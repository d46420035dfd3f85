"""Deployment files, parsed (neither docker nor systemd is needed): the compose stack keeps the
outage journal on a named volume, declares the venue secrets its example uses, publishes metrics
on 127.0.0.1 only and says how an unhealthy guard is restarted; the systemd unit is hardened; the
service and the CLI's non-lab commands run without the chart libraries (the `lab` extra)."""

from __future__ import annotations

import configparser
import os
import re
import subprocess
import sys
import tomllib
from typing import Any

import yaml

from tests.service.helpers import ROOT


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def test_compose_when_parsed_then_journal_on_a_named_volume_the_config_points_at() -> None:
    compose = _compose()
    guard = compose["services"]["guard"]
    mounts = [m.split(":") for m in guard["volumes"]]
    volume_mounts = {target: source for source, target, *_ in mounts if not source.startswith(".")}
    journal = yaml.safe_load((ROOT / "examples" / "guard.docker.yaml").read_text())["service"][
        "journal"
    ]
    folder = os.path.dirname(journal)
    assert volume_mounts.get(folder) in compose["volumes"], (folder, volume_mounts)
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(rf"mkdir -p .*{re.escape(folder)}", dockerfile)  # owned by the guard user
    assert re.search(rf"chown guard .*{re.escape(folder)}", dockerfile)


def test_compose_when_parsed_then_venue_secrets_of_the_example_are_declared() -> None:
    compose = _compose()
    guard = compose["services"]["guard"]
    example = (ROOT / "examples" / "guard.docker.yaml").read_text()
    used = set(re.findall(r"/run/secrets/([A-Za-z0-9_]+)", example))
    assert used and used <= set(guard["secrets"]) and used <= set(compose["secrets"])
    assert guard["env_file"][0]["path"] == "guard.env"  # the {env: ...} references


def test_compose_when_parsed_then_ports_on_localhost_health_checked_and_restarted() -> None:
    compose = _compose()
    guard = compose["services"]["guard"]
    assert guard["ports"] and all(p.startswith("127.0.0.1:") for p in guard["ports"])
    assert guard["restart"] in ("unless-stopped", "always", "on-failure")
    assert {"test", "interval", "retries"} <= set(guard["healthcheck"])
    healer = compose["services"]["autoheal"]  # what restarts a running-but-unhealthy guard
    assert healer["profiles"] == ["autoheal"]
    label = healer["environment"]["AUTOHEAL_CONTAINER_LABEL"]
    assert guard["labels"][label] == "true"
    assert (
        "do NOT restart a container that is running but unhealthy"
        in (ROOT / "docker-compose.yml").read_text()
    )


def _unit() -> configparser.ConfigParser:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string((ROOT / "deploy" / "systemd" / "guard.service").read_text())
    return unit


def test_systemd_unit_when_parsed_then_hardened_and_restarted_on_failure() -> None:
    service = _unit()["Service"]
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert service["Restart"] == "on-failure"
    assert service["User"] == "guard"
    assert "/var/lib/guard" in service["ReadWritePaths"].split()
    assert service["StateDirectory"] == "guard"
    assert service["ExecStart"].endswith("guard run --config /etc/guard/guard.yaml")
    assert service["KillSignal"] == "SIGTERM" and "-HUP" in service["ExecReload"]
    assert "WatchdogSec" not in service  # the service does not notify a watchdog
    assert _unit()["Install"]["WantedBy"] == "multi-user.target"
    assert "StartLimitBurst" in _unit()["Unit"]  # systemd reads the start limit only there


def test_pyproject_when_read_then_chart_libraries_only_in_the_lab_extra() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = " ".join(project["dependencies"])
    assert "matplotlib" not in runtime
    assert any(d.startswith("matplotlib") for d in project["optional-dependencies"]["lab"])
    assert "guard[lab]" in project["optional-dependencies"]["dev"]
    assert "[dev,lab]" in (ROOT / "scripts" / "_bootstrap.sh").read_text()
    assert "RUN pip install -c constraints.txt ." in (ROOT / "Dockerfile").read_text()


BLOCKED = """
import sys
for name in ("matplotlib", "numpy", "PIL"):
    sys.modules[name] = None  # importing any of them raises ImportError
import guard.service, guard.service.runner, guard.operator.cli
from typer.testing import CliRunner
runner = CliRunner()
for args in (["--version"], ["status", "--help"], ["run", "--help"], ["demo", "--help"]):
    result = runner.invoke(guard.operator.cli.app, args)
    assert result.exit_code == 0, (args, result.output, result.exception)
replay = runner.invoke(guard.operator.cli.app, ["replay", "--scenario", "crash"])
print(replay.exit_code, " ".join(replay.stderr.split()))
"""


def test_service_and_cli_when_chart_libraries_missing_then_import_and_run() -> None:
    done = subprocess.run(
        [sys.executable, "-c", BLOCKED],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    code, _, message = done.stdout.strip().splitlines()[-1].partition(" ")
    assert code == "1" and "pip install 'guard[lab]'" in message
