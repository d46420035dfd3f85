"""A start while the database is unreachable (issue 21): with a journal, the service starts from
what the journaled store knew (its known file beside the journal) plus the journal's pending
entries, protects at once, never sends a client id the venue already has, and switches to the
database (schema check, flush exactly once) when it answers. On a private PostgreSQL cluster."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from guard.core.domain import OrderStatus
from guard.service import AccountRuntime, GuardService, RailSettings
from guard.store import Store
from guard.store.codec import state_to_json
from guard.store.journal_known import known_path
from guard.store.journaled_store import JournaledStore
from tests.reliability.pgcluster import PgCluster
from tests.reliability.test_database_outage import (
    ACCOUNT,
    BREAKERS,
    POLICY,
    Rig,
    make_rig,
)
from tests.service.test_runner import _config

DOWN = "postgresql+psycopg://nobody@127.0.0.1:1/none"  # refused at once


def restart(rig: Rig, journal: Path) -> JournaledStore:
    """A new process's store with the database down: started from the known file."""
    rig.store.dispose()
    store = JournaledStore(rig.store.url, journal, probe_interval=0)
    try:
        store.require_migrated()
    except Exception as error:  # the outage, as the runner sees it at start-up
        assert store.start_without_database(error, store.require_migrated)
    else:
        raise AssertionError("the database answered")
    rig.store = store
    rig.service = GuardService(
        store=store,
        accounts={ACCOUNT: AccountRuntime(ACCOUNT, rig.service.accounts[ACCOUNT].rules,
                                          rig.gateway, POLICY)},
        clock=lambda: rig.venue.now,
        rails=RailSettings(breakers=BREAKERS),
    )  # fmt: skip
    return store


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    return tmp_path / "journal.jsonl"


@pytest.fixture
def rig(pg: PgCluster, journal: Path) -> Iterator[Rig]:
    made = make_rig(pg.url, journal)
    yield made
    made.store.dispose()


async def test_database_down_at_start_when_known_file_then_protects_from_journal_and_flushes_once(
    rig: Rig,
    pg: PgCluster,
    journal: Path,
) -> None:
    await rig.tick()  # the 12 % band fires with the database up: its memory reaches the file
    first = rig.fill_ids()
    assert len(first) == 1 and known_path(journal).exists()
    pg.stop("fast")  # the private cluster runs synchronous_commit=off
    store = restart(rig, journal)
    assert store.blind and store.problem is not None
    for _ in range(7):  # minute 6: the 9 % band fires while the database is still down
        await rig.tick()
    fills = rig.fill_ids()
    assert len(fills) == 2 and len(set(fills)) == 2, fills  # the 12 % band not sent again
    assert rig.gateway.calls["create_order"] == 2
    pg.start()
    await rig.tick()  # the database answers: schema checked, journal flushed, then used
    assert not store.blind and store.problem is None and store.journal.pending() == []
    check = Store(pg.url)
    try:
        statuses = {i.client_order_id: i.status for i in check.intents(ACCOUNT)}
        assert {statuses[c] for c in fills} == {OrderStatus.FILLED}
        assert check.verify_audit().ok
    finally:
        check.dispose()


async def test_known_file_older_than_a_send_when_started_without_database_then_found_not_resent(
    rig: Rig,
    pg: PgCluster,
    journal: Path,
) -> None:
    await rig.tick()
    sent = rig.fill_ids()
    assert len(sent) == 1
    path = known_path(journal)  # the file as it was just before the band fired (it lags)
    data = json.loads(path.read_text())
    data["states"], data["open"] = {}, []
    path.write_text(json.dumps(data))
    pg.stop("fast")  # the private cluster runs synchronous_commit=off
    restart(rig, journal)
    for _ in range(7):  # minute 6: with no memory of band 1, bands 1 and 2 are both planned
        await rig.tick()
    fills = rig.fill_ids()
    assert fills[0] == sent[0] and len(fills) == len(set(fills)) == 2, fills
    assert rig.gateway.calls["create_order"] == 2  # band 1 found at the venue, never re-sent
    outcomes = [
        e.data["result"]["status"]
        for e in rig.store.journal.pending()
        if e.op == "update_intent" and e.data["result"]["client_order_id"] == sent[0]
    ]
    assert outcomes == ["filled"]  # the venue's answer recorded, not a rejected re-send


def test_database_down_at_start_when_no_known_file_then_refused(tmp_path: Path) -> None:
    store = JournaledStore(DOWN, tmp_path / "j.jsonl")
    try:
        with pytest.raises(Exception) as caught:
            store.require_migrated()
        assert not store.start_without_database(caught.value)
        assert not store.blind
    finally:
        store.dispose()


def test_runner_when_database_down_and_known_file_then_starts_else_exits(tmp_path: Path) -> None:
    from guard.service.runner import Runner

    path = _config(tmp_path)
    text = path.read_text().replace(
        "  housekeeping: 1h\n", "  housekeeping: 1h\n  journal: j.jsonl\n"
    )
    text = text.replace(f"sqlite:///{tmp_path / 'guard.db'}", DOWN)
    path.write_text(text)
    with pytest.raises(Exception, match=r"connect|refused|Connection"):
        Runner(path, install_signals=False)  # nothing known yet: refused (exit 4 in the CLI)
    known_path(tmp_path / "j.jsonl").write_text(
        json.dumps({"format": 1, "saved_at": "2026-01-01T00:00:00+00:00", "locks": [],
                    "states": {}, "window": {}, "open": [], "markets": {}})
    )  # fmt: skip
    runner = Runner(path, install_signals=False)
    try:
        assert isinstance(runner.store, JournaledStore) and runner.store.blind
        ok, reasons = runner.health.status()  # /health is degraded from its first answer
        assert not ok and any("database unreachable" in r for r in reasons)
    finally:
        runner.store.dispose()


async def test_killed_during_outage_when_started_again_then_journal_replayed_nothing_replanned(
    rig: Rig,
    pg: PgCluster,
    journal: Path,
) -> None:
    await rig.tick()
    pg.stop("fast")
    for _ in range(7):  # the 9 % band fires during the outage: only the journal knows it
        await rig.tick()
    assert rig.gateway.calls["create_order"] == 2
    before = state_to_json(rig.store.load_state(ACCOUNT))
    restart(rig, journal)  # the process was killed; the new one starts with the database down
    assert state_to_json(rig.store.load_state(ACCOUNT)) == before  # band 2's memory included
    for _ in range(3):
        await rig.tick()
    assert rig.gateway.calls["create_order"] == 2
    assert rig.gateway.calls["fetch_order"] == 0  # the band's memory came back from the journal
    pg.start()
    await rig.tick()
    assert rig.store.journal.pending() == [] and rig.store.problem is None
