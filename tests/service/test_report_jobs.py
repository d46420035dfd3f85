"""Scheduled reports: the service.reports crontab lines become scheduler jobs, and each job sends
its report of every guarded account through the alert channels (shadow: dry-run accounts only)."""

from __future__ import annotations

from pathlib import Path

import pytest

from guard.core.yaml_model import ConfigError
from guard.service.config import load_config
from guard.service.notify import AlertKind
from guard.service.runner import Runner

SCENARIO = """
name: flat
description: flat BTC with positive funding
tick: 5m
noise: "0%"
symbols:
  BTC/USDT:USDT: {start: 60000}
drift:
  - {minutes: 600, per_minute: "0%"}
funding:
  - {hours: 6, rate: "0.01%"}
collateral: 10000
positions:
  - {symbol: BTC/USDT:USDT, side: long, quantity: 1, leverage: 5x}
"""


def config(tmp_path: Path, reports: str = "", dry_run: bool = False) -> Path:
    (tmp_path / "flat.yaml").write_text(SCENARIO)
    (tmp_path / "policy.yaml").write_text(
        "version: 1\nname: p\nrules:\n  - {id: stale, kind: stale_data, max_age: 2m}\n"
    )
    path = tmp_path / "guard.yaml"
    path.write_text(
        "version: 1\n"
        "service:\n"
        f"  database_url: 'sqlite:///{tmp_path / 'g.db'}'\n"
        "  create_schema: true\n"
        f"{reports}"
        "accounts:\n"
        "  - {name: a, venue: paper, scenario: flat.yaml, policies: [policy.yaml],"
        f" dry_run: {str(dry_run).lower()}}}\n"
    )
    return path


def test_schedule_when_defaults_then_daily_funding_and_weekly_stress(tmp_path: Path) -> None:
    runner = Runner(config(tmp_path), install_signals=False)
    runner.schedule_reports()
    jobs = {job.id: str(job.trigger) for job in runner.scheduler.get_jobs()}
    assert jobs == {
        "report-funding": "cron[month='*', day='*', day_of_week='*', hour='8', minute='0']",
        "report-stress": "cron[month='*', day='*', day_of_week='mon', hour='8', minute='0']",
    }


def test_schedule_when_turned_off_then_no_job(tmp_path: Path) -> None:
    reports = "  reports: {funding: null, stress: null, shadow: '30 7 * * *'}\n"
    runner = Runner(config(tmp_path, reports), install_signals=False)
    runner.schedule_reports()
    assert [job.id for job in runner.scheduler.get_jobs()] == ["report-shadow"]


def test_config_when_crontab_is_bad_then_error_names_file_line_and_field(tmp_path: Path) -> None:
    path = config(tmp_path, "  reports: {funding: 'every day'}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    text = str(caught.value)
    assert "guard.yaml:5" in text and "reports.funding" in text and "crontab" in text


async def test_send_when_funding_due_then_report_goes_through_the_alert_channel(
    tmp_path: Path,
) -> None:
    runner = Runner(config(tmp_path), install_signals=False)
    assert await runner.send_reports("funding") == 1
    (alert,) = [a for a in runner.service.notifier.sent if a.kind is AlertKind.REPORT]
    assert alert.title.startswith("guard report: funding a: paid")
    assert "BTC/USDT:USDT | long | 1 |" in alert.body
    assert runner.papers["a"].inner.calls["create_order"] == 0  # reports never send orders


async def test_send_when_shadow_and_account_is_live_then_nothing_sent(tmp_path: Path) -> None:
    (tmp_path / "live").mkdir()
    (tmp_path / "dry").mkdir()
    runner = Runner(config(tmp_path / "live"), install_signals=False)
    assert await runner.send_reports("shadow") == 0
    dry = Runner(config(tmp_path / "dry", dry_run=True), install_signals=False)
    assert await dry.send_reports("shadow") == 1


async def test_reload_when_schedule_changes_then_jobs_follow(tmp_path: Path) -> None:
    path = config(tmp_path)
    runner = Runner(path, install_signals=False)
    runner.schedule_reports()
    runner.scheduler.start(paused=True)
    try:
        text = path.read_text().replace(
            "  create_schema: true\n",
            "  create_schema: true\n  reports: {funding: '15 6 * * *', stress: null}\n",
        )
        path.write_text(text)
        assert await runner.reload()
        jobs = {
            job.id: str(job.trigger) for job in runner.scheduler.get_jobs() if "report" in job.id
        }
        assert jobs == {
            "report-funding": "cron[month='*', day='*', day_of_week='*', hour='6', minute='15']"
        }
    finally:
        runner.scheduler.shutdown(wait=False)
