"""`guard run` with `streams: true` on a lab Binance account: the runner subscribes the venue's
streams after its first poll, a price crossing a band wakes a full tick through the same tick job
(one at a time per account) long before the next poll, and the lab accepts the order; a config
asking for streams on a polled-only venue is refused by name."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from guard.core.yaml_model import ConfigError
from guard.lab.venue_lab import VenueLab
from guard.service.config import load_config
from guard.service.runner import Runner
from guard.service.tick_jobs import phase_offset
from tests.venue_lab import ACCOUNTS

POLL = timedelta(seconds=6)
CONFIG = """
version: 1
service:
  database_url: sqlite:///{db}
  create_schema: true
  staleness: 2m
  streams: {{silence: 30s, move_fraction: "50%"}}
accounts:
  - name: {name}
    venue: {venue}
    base_url: {base_url}
    streams: true
    credentials:
      apiKey: {{env: STREAMS_LAB_KEY}}
      secret: {{env: STREAMS_LAB_SECRET}}
    policies: [{policy}]
    poll_interval: {poll}s
"""
LADDER = """
version: 1
name: streams
rules:
  - id: price-ladder
    kind: exit_ladder
    metric: mark_price
    direction: below
    select: {{symbols: ["BTC/*"], side: long}}
    bands: [{{trigger: "{trigger}", reduce: "25%"}}]
    rearm: "{rearm}"
"""


def _write(tmp_path: Path, lab: VenueLab, venue: str = "binance") -> tuple[Path, Decimal]:
    trigger = (lab.book.mark("BTC/USDT:USDT") * Decimal("0.97")).quantize(Decimal(1))
    policy = tmp_path / "ladder.yaml"
    policy.write_text(LADDER.format(trigger=trigger, rearm=trigger * 2))
    # an account name whose first poll comes early in the interval (the runner spreads them)
    name = min((f"bn-{i}" for i in range(50)), key=lambda n: phase_offset(n, POLL))
    path = tmp_path / "guard.yaml"
    path.write_text(
        CONFIG.format(
            db=tmp_path / "guard.db",
            name=name,
            venue=venue,
            base_url=lab.base_url("binance"),
            policy=policy,
            poll=POLL.total_seconds(),
        )
    )
    return path, trigger


async def test_runner_when_price_crosses_band_then_stream_wakes_tick_before_poll_and_order_sent(
    venue_lab: VenueLab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab, chosen = venue_lab, ACCOUNTS["binance"]
    monkeypatch.setenv("STREAMS_LAB_KEY", chosen.credentials["apiKey"])
    monkeypatch.setenv("STREAMS_LAB_SECRET", chosen.credentials["secret"])
    path, trigger = _write(tmp_path, lab)
    runner = Runner(path, install_signals=False, clock=lab.book.now)
    (name,) = runner.service.accounts
    orders = lambda: lab.book.all_orders("binance", chosen.account)  # noqa: E731
    task = asyncio.create_task(runner.run())
    try:
        began = time.monotonic()
        while name not in runner.waker.facts or not any(
            s.state.value == "connected" for s in runner.waker.venues.values()
        ):
            await asyncio.sleep(0.02)
            assert time.monotonic() - began < POLL.total_seconds(), "no first poll and stream"
        polled = runner.service.tick_counts[name]
        before = len(orders())
        while lab.book.mark("BTC/USDT:USDT") >= trigger:
            lab.book.advance_to(lab.book.now() + timedelta(seconds=30))
        moved = time.monotonic()
        while len(orders()) == before:
            await asyncio.sleep(0.01)
            assert time.monotonic() - moved < 2.0, "no order within 2 s of the move"
        reacted = time.monotonic() - moved
    finally:
        runner.request_stop()
        assert await asyncio.wait_for(task, 30) == 0
    assert runner.coalescer.started >= 1 and runner.service.tick_counts[name] > polled
    assert reacted < POLL.total_seconds() / 3
    assert orders()[-1].reduce_only


def test_config_when_streams_on_polled_only_venue_then_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "guard.yaml"
    path.write_text(
        CONFIG.format(
            db=tmp_path / "guard.db",
            name="okx-a",
            venue="okx",
            base_url="http://127.0.0.1:1/okx",
            policy=tmp_path / "p.yaml",
            poll=5,
        )
    )
    (tmp_path / "p.yaml").write_text("version: 1\nname: p\nrules: []\n")
    with pytest.raises(ConfigError, match="okx accounts are polled only"):
        load_config(path)
