"""The container files, parsed (docker is not needed): compose services, healthchecks,
migrations on start, secrets, and a Dockerfile installing the package as the README does."""

from __future__ import annotations

import re
from typing import Any

import yaml

from tests.service.helpers import ROOT


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def test_compose_when_parsed_then_postgres_and_guard_with_healthchecks() -> None:
    services = _compose()["services"]
    assert set(services) == {"db", "guard", "autoheal"}  # autoheal: an opt-in profile
    db, guard = services["db"], services["guard"]
    assert db["image"].startswith("postgres:")
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert guard["depends_on"]["db"]["condition"] == "service_healthy"
    check = " ".join(guard["healthcheck"]["test"])
    assert "/health" in check and "9308" in check
    assert guard["build"] == "."


def test_compose_when_parsed_then_migrations_run_before_the_service() -> None:
    guard = _compose()["services"]["guard"]
    command = " ".join(guard["command"])
    assert command.index("guard db upgrade") < command.index("exec guard run --config")
    assert "/etc/guard/guard.yaml" in command
    mounts = guard["volumes"]
    assert any(m.startswith("./examples/guard.docker.yaml:/etc/guard/guard.yaml") for m in mounts)
    assert guard["stop_signal"] == "SIGTERM"


def test_compose_when_parsed_then_secrets_come_from_files_not_the_yaml() -> None:
    compose = _compose()
    db, guard = compose["services"]["db"], compose["services"]["guard"]
    assert db["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    assert "POSTGRES_PASSWORD" not in db["environment"]
    assert set(compose["secrets"]) == {"postgres_password", "guard_database_url", "binance_secret"}
    assert all("file" in spec for spec in compose["secrets"].values())
    assert guard["secrets"] == ["guard_database_url", "binance_secret"]
    assert "GUARD_DATABASE_URL" not in guard.get("environment", {})
    assert guard["env_file"][0]["path"] == "guard.env"
    text = (ROOT / "docker-compose.yml").read_text()
    assert not re.search(r"(?i)password:[ \t]*\S", text)  # no literal password value


def test_dockerfile_when_read_then_installs_the_project_with_the_constraints() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    runs = [line for line in dockerfile.splitlines() if line.startswith("RUN ")]
    assert "RUN pip install -c constraints.txt ." in runs
    assert re.search(r"^COPY .*constraints\.txt", dockerfile, re.M)
    assert re.search(r"^COPY .*pyproject\.toml", dockerfile, re.M)
    assert "HEALTHCHECK" in dockerfile and "/health" in dockerfile
    bootstrap = (ROOT / "scripts" / "_bootstrap.sh").read_text()
    # the scripts the README points at install the same project against the same constraints
    assert '-c "$ROOT/constraints.txt"' in bootstrap and '-e "$ROOT[dev,lab]"' in bootstrap
