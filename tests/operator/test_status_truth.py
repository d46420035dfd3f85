"""`guard status` tells the truth: a disabled account says so and why, a paper account's tick age is
wall-clock time (never negative), and accounts the running config no longer has are marked."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from guard.service.runner import Runner
from guard.store import AccountInfo, Store
from tests.operator.conftest import run
from tests.service.helpers import POLICY

CONFIG = """
version: 1
service:
  database_url: sqlite:///{db}
  create_schema: true
accounts:
  - name: sim
    venue: paper
    speed: 3600
    start: 44m
    policies: [{policy}]
    poll_interval: 1s
  - name: keyless
    venue: binance
    credentials:
      apiKey: {{env: PAPERCUTS_UNSET_KEY}}
      secret: {{env: PAPERCUTS_UNSET_SECRET}}
    policies: [{policy}]
    poll_interval: 1s
"""


def _status(db: str) -> dict[str, dict[str, Any]]:
    ran = run("status", "--json", "--db", db)
    assert ran.code == 0, ran.text
    return {r["account"]: r for r in json.loads(ran.raw.stdout)}


def test_status_when_account_disabled_or_paper_then_reason_shown_and_tick_age_not_negative(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PAPERCUTS_UNSET_KEY", raising=False)
    monkeypatch.delenv("PAPERCUTS_UNSET_SECRET", raising=False)
    path = tmp_path / "guard.yaml"
    path.write_text(CONFIG.format(db=tmp_path / "guard.db", policy=POLICY))
    runner = Runner(path, install_signals=False)
    runner._config_events()  # what a start does first: audit the config, register the accounts

    async def ticks() -> None:
        try:
            await runner.service.tick("sim")
            await runner.service.tick("keyless")
        finally:
            runner.service.db.close()

    try:
        asyncio.run(ticks())
    finally:
        runner.store.dispose()
    db = f"sqlite:///{tmp_path / 'guard.db'}"
    rows = _status(db)

    keyless = rows["keyless"]
    assert keyless["mode"] == "disabled"
    assert "PAPERCUTS_UNSET_KEY" in keyless["disabled_reason"]
    sim = rows["sim"]
    assert sim["mode"] == "active" and sim["disabled_reason"] is None
    assert 0 <= sim["tick_age_seconds"] < 60  # wall clock, though the paper clock runs ahead

    table = run("status", "--db", db)
    assert "disabled" in table.out and "keyless disabled: permanent error" in table.out
    assert "dry-run" not in table.out


def test_status_when_account_not_registered_by_last_start_then_marked_not_in_config(
    db: str, store: Store
) -> None:
    t0 = datetime.now(UTC) - timedelta(hours=1)
    store.register_accounts(
        [
            AccountInfo("old", "binance", False, Decimal(5)),
            AccountInfo("kept", "okx", False, Decimal(5)),
        ],
        t0,
    )
    store.register_accounts([AccountInfo("kept", "okx", False, Decimal(5))], t0 + timedelta(1))
    rows = _status(db)
    assert (rows["old"]["in_running_config"], rows["kept"]["in_running_config"]) == (False, True)
    assert (rows["old"]["mode"], rows["kept"]["mode"]) == ("not running", "active")
    assert "not in the running config" in run("status", "--db", db).out
