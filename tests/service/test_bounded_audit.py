"""Bounded audit: every decision is audited, but a quiet evaluation that repeats the previous one
is audited only once per heartbeat (the tick line is still logged), so a calm account does not
grow the audit log by a row every few seconds."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from guard.core.domain import Side
from guard.core.venues.paper import RULES
from guard.gateway.paper.book import SlippageModel
from guard.gateway.paper.path import PricePath
from guard.gateway.paper.venue import PaperVenue
from guard.service import AccountRuntime, GuardService
from guard.store import Store
from tests.builders import T0, D, spec
from tests.reliability.test_fault_matrix import POLICY

BTC = "BTC/USDT:USDT"


def _service(
    tmp_path: Path, heartbeat: timedelta | None
) -> tuple[GuardService, Store, list[datetime]]:
    path = PricePath({BTC: tuple((T0 + timedelta(minutes=m), D(60000)) for m in range(200))})
    venue = PaperVenue({BTC: spec(BTC)}, path, slippage=SlippageModel(D(0), D(0)))
    venue.open_account("calm", D(60000))
    venue.seed_position("calm", BTC, Side.LONG, D("0.1"), D(60000), D(2))
    store = Store(f"sqlite:///{tmp_path / 'guard.db'}")
    store.create_schema()
    wall = [datetime(2026, 12, 1, tzinfo=UTC)]
    runtime = AccountRuntime("calm", RULES, venue, POLICY, clock=lambda: venue.now)
    service = GuardService(
        store=store, accounts={"calm": runtime}, clock=lambda: wall[0], heartbeat=heartbeat
    )
    return service, store, wall


@pytest.mark.parametrize(("heartbeat", "expected"), [(timedelta(minutes=5), 2), (None, 61)])
async def test_tick_when_account_calm_then_evaluations_audited_once_per_heartbeat(
    tmp_path: Path, heartbeat: timedelta | None, expected: int
) -> None:
    service, store, wall = _service(tmp_path, heartbeat)
    try:
        for _ in range(61):  # five minutes at a 5 s interval, both ends included
            report = await service.tick("calm")
            assert report.error is None and report.plan is not None and not report.plan.orders
            wall[0] += timedelta(seconds=5)
        # t = 0 s, then the heartbeats at 300 s; with no heartbeat every tick is audited
        assert store.count_events("evaluation", "calm") == expected
    finally:
        store.dispose()


def test_worth_auditing_when_outcome_changes_or_not_quiet_then_audited_at_once(
    tmp_path: Path,
) -> None:
    service, store, wall = _service(tmp_path, timedelta(minutes=5))
    runtime = service.accounts["calm"]
    try:
        assert service._worth_auditing(runtime, "a|BTC|long|warning")  # the first
        assert not service._worth_auditing(runtime, "a|BTC|long|warning")  # a repeat
        assert service._worth_auditing(runtime, "")  # the warning cleared: a change
        assert service._worth_auditing(runtime, None)  # a decision: always
        assert service._worth_auditing(runtime, "")  # after a decision, quiet again is news
        wall[0] += timedelta(minutes=4)
        assert not service._worth_auditing(runtime, "")
        wall[0] += timedelta(minutes=1)
        assert service._worth_auditing(runtime, "")  # the heartbeat
    finally:
        store.dispose()


async def test_audit_growth_when_calm_account_ticks_an_hour_at_5s_then_under_1_mib_a_day(
    tmp_path: Path,
) -> None:
    """Measured, not estimated: the database file's growth (rows and indexes, after a WAL
    checkpoint) over one hour of 5 s ticks of a calm account, scaled to a day."""
    service, store, wall = _service(tmp_path, timedelta(minutes=5))
    db = tmp_path / "guard.db"

    def size() -> int:
        with sqlite3.connect(db) as raw:
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return db.stat().st_size

    try:
        await service.tick("calm")  # the first tick writes the account's first rows
        before = size()
        for _ in range(720):
            wall[0] += timedelta(seconds=5)
            await service.tick("calm")
        per_day = (size() - before) * 24
    finally:
        service.db.close()
        store.dispose()
    print(f"calm account at 5 s: {per_day / 1024:.0f} KiB of audit a day")
    assert per_day <= 1024 * 1024
