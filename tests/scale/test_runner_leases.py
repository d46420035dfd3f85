"""The runner's lease hooks in-process on PostgreSQL: two replicas split the accounts, tick only
what they hold, and a clean stop hands the leases over at once (no wait for the ttl)."""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from guard.core.audit import EventKind
from guard.service.logs import configure
from guard.service.runner import Runner
from guard.store import Store
from guard.store.lease_keeper import LeaseConflict, LeaseManager
from guard.store.lease_queries import leases, tick_spans
from tests.service.helpers import POLICY

NAMES = [f"p{i}" for i in range(6)]


def _config(tmp_path: Path, url: str, replica: str) -> Path:
    accounts = "".join(
        f"""
  - name: {name}
    venue: paper
    speed: 1
    policies: [{POLICY}]
    poll_interval: 1s"""
        for name in NAMES
    )
    path = tmp_path / f"{replica}.yaml"
    path.write_text(
        f"""
version: 1
service:
  database_url: {url}
  housekeeping: 1h
  leases: {{enabled: true, replica_id: {replica}, record_ticks: true}}
accounts:{accounts}
"""
    )
    return path


async def _until(what: str, check: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what}: not within {seconds} s")


@pytest.fixture(autouse=True)
def _quiet_logs() -> None:
    configure(stream=open(os.devnull, "w"))  # noqa: SIM115


@pytest.mark.postgres
async def test_runners_when_two_replicas_then_split_and_clean_stop_hands_over_at_once(
    pg_store: Store, tmp_path: Path
) -> None:
    url = pg_store.url
    a = Runner(_config(tmp_path, url, "ra"), install_signals=False)
    b = Runner(_config(tmp_path, url, "rb"), install_signals=False)
    run_a = asyncio.create_task(a.run())
    run_b = asyncio.create_task(b.run())

    def split() -> bool:
        held = Counter(lease.holder for lease in leases(pg_store))
        # fair share: ceil(6 / 2) + slack 1
        return set(held) == {"ra", "rb"} and max(held.values()) <= 4 and sum(held.values()) == 6

    await _until("both replicas holding their share", split, 15)
    await _until(
        "every account ticked", lambda: len({s.account for s in tick_spans(pg_store)}) == 6, 10
    )
    assert set(b.health.intervals) == set(b.leases.held if b.leases else ())
    for span in tick_spans(pg_store):  # a replica ticks only under a lease it was given
        assert span.replica in ("ra", "rb") and span.token >= 1

    a.request_stop()
    assert await asyncio.wait_for(run_a, 15) == 0
    stopped = time.monotonic()
    await _until("rb holding all", lambda: {x.holder for x in leases(pg_store)} == {"rb"}, 5)
    ttl = b.leases.settings.ttl.total_seconds() if b.leases else 0
    assert time.monotonic() - stopped < ttl, "handed over only after the ttl"
    await _until(
        "taken-over accounts verify client ids at the venue before sending",
        lambda: all(b.service.accounts[n].verify_until is not None for n in NAMES),
        5,
    )
    assert b.service.executor(b.service.accounts["p0"]).verify
    released = pg_store.tail(100, kind=EventKind.LEASE_RELEASED.value)
    assert any(e.actor == "ra" and e.payload.get("shutdown") for e in released)
    b.request_stop()
    assert await asyncio.wait_for(run_b, 15) == 0
    assert {x.holder for x in leases(pg_store)} == {None}


@pytest.mark.postgres
async def test_run_when_replica_id_already_alive_then_start_refused(
    pg_store: Store, tmp_path: Path
) -> None:
    first = Runner(_config(tmp_path, pg_store.url, "same"), install_signals=False)
    task = asyncio.create_task(first.run())
    await _until(
        "first replica joined", lambda: first.leases is not None and first.leases.joined, 10
    )
    second = Runner(_config(tmp_path, pg_store.url, "same"), install_signals=False)
    with pytest.raises(LeaseConflict, match="used by a live replica"):
        await second.run()
    second.store.dispose()
    first.request_stop()
    assert await asyncio.wait_for(task, 15) == 0


@pytest.mark.postgres
async def test_lease_beat_when_database_unreachable_past_deadline_then_degraded_alerted_not_green(
    pg_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = Runner(_config(tmp_path, pg_store.url, "solo"), install_signals=False)
    task = asyncio.create_task(runner.run())
    await _until(
        "holding every lease",
        lambda: runner.leases is not None and len(runner.leases.held) == 6,
        15,
    )
    keeper = runner.leases
    assert keeper is not None
    real_clock = keeper.monotonic

    def refused(*args: object, **kwargs: object) -> object:
        raise ConnectionRefusedError("connection to 127.0.0.1:5432 refused")

    monkeypatch.setattr(LeaseManager, "beat", refused)
    keeper.monotonic = lambda: real_clock() + 3600
    await runner._lease_beat()
    ok, reasons = runner.health.status()
    assert not ok
    assert any(
        "no longer guards" in r and "connection to 127.0.0.1:5432 refused" in r for r in reasons
    )
    assert any(a.title.endswith("not guarding") for a in runner.service.notifier.sent)
    monkeypatch.undo()
    keeper.monotonic = real_clock
    await runner._lease_beat()
    assert not any("lapsed" in r for r in runner.health.status()[1])
    runner.request_stop()
    assert await asyncio.wait_for(task, 15) == 0


@pytest.mark.postgres
async def test_lease_beat_when_database_unreachable_with_journal_then_leases_kept_and_ticking(
    pg_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _config(tmp_path, pg_store.url, "solo")
    path.write_text(
        path.read_text().replace("  housekeeping: 1h\n", "  housekeeping: 1h\n  journal: j.jsonl\n")
    )
    runner = Runner(path, install_signals=False)
    task = asyncio.create_task(runner.run())
    await _until(
        "holding every lease",
        lambda: runner.leases is not None and len(runner.leases.held) == 6,
        15,
    )
    keeper = runner.leases
    assert keeper is not None
    real_clock = keeper.monotonic

    def refused(*args: object, **kwargs: object) -> object:
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))

    monkeypatch.setattr(LeaseManager, "beat", refused)
    keeper.monotonic = lambda: real_clock() + 3600  # far past the lease ttl
    await runner._lease_beat()
    assert len(keeper.held) == 6 and set(runner.health.intervals) == set(NAMES)
    ok, reasons = runner.health.status()
    assert not ok and any("keeps guarding" in r for r in reasons)
    before = runner.health.last_success.get("p0")
    await runner._job("p0")  # past the ttl: still ticked (from the journal if need be)
    assert runner.health.last_success.get("p0") != before
    monkeypatch.undo()
    keeper.monotonic = real_clock
    await runner._lease_beat()  # the database answers: renewed, the reason gone
    assert not any("keeps guarding" in r for r in runner.health.status()[1])
    runner.request_stop()
    assert await asyncio.wait_for(task, 15) == 0
