"""Logs a machine can read: every line `guard run` writes is JSON (ccxt retries, APScheduler skips
and missed runs, alembic, aiohttp, warnings included), levels that mean something, alerts typed by
severity, and a dry-run account's alerts saying what the guard would do."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from guard.core.domain import Severity
from guard.gateway.base import PermanentError
from guard.service.logs import logging_to
from guard.service.notify import AlertKind, Notifier
from guard.store import Store
from tests.service.helpers import POLICY, ROOT, rails, rig

NOISY = """
version: 1
service:
  database_url: sqlite:///{db}
  create_schema: true
  housekeeping: 1h
  misfire_grace: 1s
  stop_when_scenarios_end: true
accounts:
  - name: sim
    venue: paper
    speed: 600
    start: 44m
    until: 80m
    policies: [{policy}]
    poll_interval: 0.05s
"""


@pytest.mark.slow
def test_run_when_venue_retries_and_scheduler_skips_then_every_line_is_json(
    tmp_path: Path,
) -> None:
    config = tmp_path / "guard.yaml"
    config.write_text(NOISY.format(db=tmp_path / "guard.db", policy=POLICY))
    done = subprocess.run(
        [sys.executable, "-m", "tests.service.noisy_run", str(config)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    lines = (done.stdout + done.stderr).decode().splitlines()
    not_json = [line for line in lines if not _is_json_object(line)]
    assert not not_json, "\n".join(not_json[:10])
    records = [json.loads(line) for line in lines]
    events = [str(r.get("event")) for r in records]

    def seen(logger: str, text: str, level: str) -> bool:
        return any(
            r.get("logger", "").startswith(logger) and text in e and r["level"] == level
            for r, e in zip(records, events, strict=True)
        )

    assert seen("guard.gateway.ccxt", "(attempt 1)", "warning")  # the ccxt read retried
    assert seen("apscheduler", "maximum number of running instances", "warning")
    assert seen("apscheduler", "was missed by", "warning")
    assert seen("alembic", "Running upgrade", "info")
    assert seen("asyncio", "Unclosed client session", "error")  # aiohttp's, via asyncio
    assert seen("py.warnings", "DeprecationWarning", "warning")
    ticks = [r for r in records if r.get("event") == "tick"]
    levels = {"ok": "info", "held": "warning", "error": "error"}
    assert ticks and all(r["level"] == levels[r["outcome"]] for r in ticks)
    assert all({"timestamp", "level"} <= set(r) for r in records)


def _is_json_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


async def test_tick_when_it_errors_then_its_line_is_logged_at_error(sqlite_store: Store) -> None:
    r = rig(sqlite_store)

    async def refused(account: str) -> object:
        raise PermanentError("paper: credentials refused (test)")

    r.venue.fetch_snapshot = refused  # type: ignore[method-assign,assignment]
    sink = io.StringIO()
    with logging_to(sink):
        await r.tick()
    records = [json.loads(line) for line in sink.getvalue().splitlines()]
    tick = next(x for x in records if x["event"] == "tick")
    assert (tick["outcome"], tick["level"]) == ("error", "error")
    alert = next(x for x in records if x["event"] == "alert")
    assert (alert["kind"], alert["level"]) == ("permanent_error", "critical")


class _Apprise:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def notify(self, **kwargs: Any) -> bool:
        self.calls.append(kwargs)
        return True


async def test_alert_when_kind_is_trouble_then_typed_warning_or_critical_not_info() -> None:
    notifier = Notifier()
    fake = _Apprise()
    notifier._apprise = fake  # type: ignore[assignment]
    sink = io.StringIO()
    with logging_to(sink):
        await notifier.alert(AlertKind.BREACH, "b", "acct BTC ladder", "distance 4%")
        await notifier.alert(AlertKind.PERMANENT_ERROR, "p", "acct", "invalid API key")
        await notifier.alert(
            AlertKind.SERVICE, "journal", "db down", "journaling", severity=Severity.WARNING
        )
        await notifier.alert(AlertKind.ORDER, "o", "acct filled", "sell 0.3 BTC: filled")
        await notifier.alert(AlertKind.BREACH, "b", "acct BTC ladder", "distance 4%")  # duplicate
    types = [call["notify_type"].value for call in fake.calls]
    assert types == ["warning", "failure", "warning", "info"]
    assert [a.severity for a in notifier.sent] == [
        Severity.WARNING,
        Severity.CRITICAL,
        Severity.WARNING,
        Severity.INFO,
    ]
    levels = [json.loads(line)["level"] for line in sink.getvalue().splitlines()]
    assert levels == ["warning", "critical", "warning", "info"]


async def test_tick_when_dry_run_account_breaches_then_alerts_say_would(
    sqlite_store: Store,
) -> None:
    r = rig(sqlite_store, dry_run=True)
    await r.run_until_orders()
    breaches = [a for a in r.service.notifier.sent if a.kind is AlertKind.BREACH]
    orders = [a for a in r.service.notifier.sent if a.kind is AlertKind.ORDER]
    assert breaches and all("(dry-run)" in a.title and "would" in a.body for a in breaches)
    assert orders and all(a.body.startswith("would send reduce-only") for a in orders)
    assert all("nothing was sent" in a.body for a in orders)
    assert r.venue.calls["create_order"] == 0


async def test_tick_when_held_by_stale_data_then_its_line_is_a_warning(sqlite_store: Store) -> None:
    r = rig(sqlite_store, settings=rails(staleness=timedelta(seconds=30)))
    await r.tick()
    r.runtime.clock = lambda: r.venue.now + timedelta(minutes=5)  # the snapshot is 5 min old
    sink = io.StringIO()
    with logging_to(sink):
        report = await r.tick()
    assert [h.rail.value for h in report.holds] == ["stale"]
    tick = next(json.loads(x) for x in sink.getvalue().splitlines() if '"tick"' in x)
    assert (tick["outcome"], tick["level"]) == ("held", "warning")


def test_severity_when_any_alert_kind_then_one_is_defined() -> None:
    # an alert kind without a severity raised KeyError at its first alert (rate_limited, report)
    from guard.service.notify import SEVERITY_OF, AlertKind

    assert set(SEVERITY_OF) == set(AlertKind)
