"""`guard run`: the shipped paper example out of the box, graceful stop, --dry-run, SIGHUP
reloads that keep the last good configuration."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from guard.service.logs import configure
from guard.service.runner import Runner
from guard.store import Store
from tests.service.helpers import POLICY, ROOT

CONFIG = """
version: 1
service:
  database_url: sqlite:///{db}
  create_schema: true
  housekeeping: 1h
  stop_when_scenarios_end: {stop}
accounts:
  - name: sim
    venue: paper
    speed: 3600
    start: 44m
    until: 120m
    latency: {latency}
    state_file: {state}
    policies: [{policy}]
    poll_interval: 0.03s
    dry_run: {dry}
"""


def _config(tmp_path: Path, *, dry: bool = False, stop: bool = True, latency: str = "0s") -> Path:
    path = tmp_path / "guard.yaml"
    path.write_text(
        CONFIG.format(
            db=tmp_path / "guard.db",
            state=tmp_path / "paper.json",
            policy=POLICY,
            dry=str(dry).lower(),
            stop=str(stop).lower(),
            latency=latency,
        )
    )
    return path


@pytest.fixture(autouse=True)
def _quiet_logs() -> None:
    configure(stream=open(os.devnull, "w"))  # noqa: SIM115


def _events(tmp_path: Path, kind: str) -> int:
    store = Store(f"sqlite:///{tmp_path / 'guard.db'}")
    try:
        return store.count_events(kind)
    finally:
        store.dispose()


@pytest.mark.slow
def test_run_when_shipped_paper_example_then_orders_within_20s_reload_and_clean_stop(
    tmp_path: Path,
) -> None:
    guard = Path(sys.executable).parent / "guard"
    process = subprocess.Popen(
        [str(guard), "run", "--config", str(ROOT / "examples" / "guard.paper.yaml")],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    db = tmp_path / "var" / "guard-paper.db"
    started = time.monotonic()
    filled = 0
    try:
        while time.monotonic() - started < 20 and process.poll() is None:
            time.sleep(0.5)
            if db.exists():
                try:
                    filled = _count(db, "order_filled")
                except Exception:  # the schema is being created right now
                    continue
                if filled:
                    break
        if filled:  # SIGHUP: the config and policies are reloaded and audited again
            process.send_signal(signal.SIGHUP)
            reloaded = time.monotonic() + 10
            while _count(db, "config_loaded") < 2 and time.monotonic() < reloaded:
                time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert filled >= 1, f"no order filled within 20 s\n{err.decode()[-2000:]}"
    assert _count(db, "config_loaded") == 2
    assert process.returncode == 0, err.decode()[-2000:]
    assert _count(db, "finding") >= 1 and _count(db, "service_stop") == 1
    lines = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    ticks = [line for line in lines if line.get("event") == "tick"]
    assert ticks and {"account", "tick_id", "outcome", "duration_ms"} <= set(ticks[0])


def _count(db: Path, kind: str) -> int:
    store = Store(f"sqlite:///{db}")
    try:
        return store.count_events(kind)
    finally:
        store.dispose()


async def test_run_when_dry_run_flag_then_nothing_reaches_the_venue(tmp_path: Path) -> None:
    runner = Runner(_config(tmp_path), dry_run=True, install_signals=False)
    assert await asyncio.wait_for(runner.run(), 30) == 0
    book = json.loads((tmp_path / "paper.json").read_text())
    assert book["received"] == []
    assert _events(tmp_path, "order_would_place") >= 1
    assert _events(tmp_path, "order_sent") == 0


async def test_stop_when_orders_in_flight_then_they_finish_and_are_recorded(
    tmp_path: Path,
) -> None:
    runner = Runner(_config(tmp_path, stop=False, latency="200ms"), install_signals=False)
    task = asyncio.create_task(runner.run())
    deadline = time.monotonic() + 20
    while not _sending(runner):
        await asyncio.sleep(0.005)
        assert time.monotonic() < deadline, "no order was ever in flight"
    runner.request_stop()
    assert await asyncio.wait_for(task, 30) == 0
    store = Store(f"sqlite:///{tmp_path / 'guard.db'}")
    try:
        assert store.unresolved_intents() == []
        assert store.count_events("order_filled") >= 1
        assert store.count_events("service_stop") == 1
    finally:
        store.dispose()


def _sending(runner: Runner) -> bool:
    try:
        return any(i.status.value == "sent" for i in runner.store.unresolved_intents())
    except Exception:
        return False


async def test_reload_when_config_broken_then_last_good_kept_and_error_audited(
    tmp_path: Path,
) -> None:
    path = _config(tmp_path)
    runner = Runner(path, install_signals=False)
    before = runner.service.accounts["sim"].policies
    good = path.read_text()
    path.write_text(good.replace("poll_interval: 0.03s", "poll_intervall: 1s"))
    assert await runner.reload() is False
    assert runner.service.accounts["sim"].policies is before
    assert _events(tmp_path, "error") == 1
    path.write_text(good.replace("dry_run: false", "dry_run: true"))
    loaded = _events(tmp_path, "config_loaded")
    assert await runner.reload() is True
    assert runner.service.accounts["sim"].dry_run is True
    assert _events(tmp_path, "config_loaded") == loaded + 1
    runner.store.dispose()


async def test_housekeeping_when_lock_runs_out_then_expired_once_and_alerted(
    tmp_path: Path,
) -> None:
    runner = Runner(_config(tmp_path), install_signals=False)
    now = runner.clock()
    old = runner.store.set_lock(
        reason="maintenance",
        actor="alice",
        at=now - timedelta(minutes=10),
        account="sim",
        expires_at=now - timedelta(minutes=1),
    )
    held = runner.store.set_lock(reason="watching", actor="bob", at=now, account="sim")
    await runner.housekeeping()
    await runner.housekeeping()
    titles = [(a.kind.value, a.key) for a in runner.service.notifier.sent]
    assert titles == [("lock", f"expired:{old.id}"), ("lock", f"set:{held.id}")]
    assert _events(tmp_path, "lock_expired") == 1
    runner.store.dispose()


async def test_housekeeping_when_an_anchor_period_passes_then_one_anchor_is_written(
    tmp_path: Path,
) -> None:
    path = _config(tmp_path)
    path.write_text(
        path.read_text().replace("service:\n", "service:\n  audit_anchor_file: out/anchors.jsonl\n")
    )
    runner = Runner(path, install_signals=False)
    start = runner.clock()
    period = runner.config.service.audit_anchor
    times = iter([start, start + period / 2, start + period, start + period * 1.5])
    runner.clock = lambda: next(times)
    for _ in range(4):
        await runner.housekeeping()
    assert _events(tmp_path, "anchor") == 1
    assert runner.store.verify_chain()[0]
    copies = (tmp_path / "out" / "anchors.jsonl").read_text().splitlines()
    assert len(copies) == 1 and json.loads(copies[0])["digest"]
    runner.store.dispose()


@pytest.mark.parametrize(
    ("breakage", "named"),
    [
        ("bytes", "not UTF-8 text (byte 0xff)"),
        ("infinite duration", "accounts[0].poll_interval"),
        ("huge duration", "accounts[0].poll_interval"),
    ],
)
async def test_reload_when_file_has_bad_bytes_or_numbers_then_last_good_kept_audited_alerted(
    tmp_path: Path, breakage: str, named: str
) -> None:
    path = _config(tmp_path)
    runner = Runner(path, install_signals=False)
    before = runner.service.accounts["sim"]
    good = path.read_text()
    if breakage == "bytes":
        path.write_bytes(good.encode() + b"\n# \xff\n")
    else:
        value = ".inf" if breakage == "infinite duration" else "1e40"
        path.write_text(good.replace("poll_interval: 0.03s", f"poll_interval: {value}"))
    assert await runner.reload() is False
    assert runner.service.accounts["sim"] is before
    assert before.poll_interval.total_seconds() == 0.03
    store = Store(f"sqlite:///{tmp_path / 'guard.db'}")
    try:
        (error,) = store.tail(5, kind="error")
        assert named in error.message and "keeping the last good config" in error.message
    finally:
        store.dispose()
    (alert,) = [a for a in runner.service.notifier.sent if a.key == "reload"]
    assert named in alert.body
    runner.store.dispose()


@pytest.mark.parametrize(("setting", "bound"), [("", "127.0.0.1"), ("0.0.0.0", "0.0.0.0")])
async def test_open_endpoints_when_metrics_host_default_or_set_then_bound_there(
    tmp_path: Path, setting: str, bound: str
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    path = _config(tmp_path)
    host = f"  metrics_host: {setting}\n" if setting else ""
    path.write_text(
        path.read_text().replace("service:\n", f"service:\n  metrics_port: {port}\n{host}")
    )
    runner = Runner(path, install_signals=False)
    try:
        await runner.open_endpoints()
        (endpoint,) = runner.endpoints
        assert endpoint.bound == [(bound, port)]
    finally:
        for endpoint in runner.endpoints:
            await endpoint.close()
        runner.store.dispose()
