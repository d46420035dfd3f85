"""Database outage: a private PostgreSQL cluster is stopped mid-run and restarted. The guard keeps
protecting (orders still go out for breaches), journals every write locally, and on recovery
flushes the journal in order: every audit event exactly once, the hash chain intact, no order
sent twice, the intents with their final statuses; a crash during the flush duplicates nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from guard.core.audit import AuditEvent, EventKind
from guard.core.domain import MarginMode, OrderPlan, OrderSide, OrderStatus, Side
from guard.core.policy.schema import PolicyFile, PolicySet
from guard.core.rails import BreakerLimits
from guard.core.venues.paper import RULES
from guard.gateway.faults import Fault, FaultyGateway
from guard.gateway.paper.book import SlippageModel
from guard.gateway.paper.path import PricePath
from guard.gateway.paper.venue import PaperVenue
from guard.service import AccountRuntime, GuardService, RailSettings
from guard.store import Store
from guard.store.journal_codec import JOURNAL_KEY
from guard.store.journal_file import Journal, JournalCorrupt
from guard.store.journaled_store import JournaledStore
from tests.builders import T0, D, spec
from tests.reliability.pgcluster import PgCluster

BTC = "BTC/USDT:USDT"
ACCOUNT = "acct"
# 1 BTC long from 60,000 on 6,000: the 12 % band fires at the first tick (61,000, distance
# 11.1 %), the 9 % band at minute 6 (57,500, distance 8.75 %) — while the database is down.
PRICES = [61000, 60500, 59800, 59000, 58500, 58000, 57500, 57000, 56500, 56000, 56000, 56000]
POLICY = PolicySet.of(
    [
        (
            "inline",
            PolicyFile.model_validate(
                {
                    "version": 1,
                    "rules": [
                        {
                            "id": "ladder",
                            "kind": "exit_ladder",
                            "metric": "liquidation_distance",
                            "bands": [
                                {"trigger": "12%", "reduce": "20%"},
                                {"trigger": "9%", "reduce": "20%"},
                                {"trigger": "6%", "reduce": "20%"},
                            ],
                            "rearm": "30%",
                        }
                    ],
                }
            ),
        )
    ]
)
BREAKERS = BreakerLimits(
    window=timedelta(hours=1),
    max_orders_per_account=10,
    max_notional_per_account=D(1_000_000),
    max_orders_global=100,
    max_notional_global=D(10_000_000),
)


@dataclass
class Rig:
    venue: PaperVenue
    gateway: FaultyGateway
    store: JournaledStore
    service: GuardService

    async def tick(self) -> None:
        await self.service.tick(ACCOUNT)
        self.venue.advance_to(self.venue.now + timedelta(minutes=1))

    def fill_ids(self) -> list[str]:
        return [f.client_order_id for f in self.venue.accounts[ACCOUNT].fills]


def make_rig(url: str, journal: Path) -> Rig:
    path = PricePath({BTC: tuple((T0 + timedelta(minutes=m), D(p)) for m, p in enumerate(PRICES))})
    venue = PaperVenue({BTC: spec(BTC)}, path, slippage=SlippageModel(D(0), D(0)))
    venue.open_account(ACCOUNT, D(6000))
    venue.seed_position(ACCOUNT, BTC, Side.LONG, D(1), D(60000), D(10))
    gateway = FaultyGateway(venue)
    store = JournaledStore(url, journal, probe_interval=0)
    store.create_schema()
    service = GuardService(
        store=store,
        accounts={ACCOUNT: AccountRuntime(ACCOUNT, RULES, gateway, POLICY)},
        clock=lambda: venue.now,
        rails=RailSettings(breakers=BREAKERS),
    )
    return Rig(venue, gateway, store, service)


@pytest.fixture
def rig(pg: PgCluster, tmp_path: Path) -> Iterator[Rig]:
    made = make_rig(pg.url, tmp_path / "journal.jsonl")
    yield made
    made.store.dispose()


def journaled_events(path: Path) -> list[tuple[str, str, str | None]]:
    """(kind, message, tick_id) of every event in the journal file, in journal order."""
    found: list[tuple[str, str, str | None]] = []
    for line in path.read_text().splitlines():
        item: dict[str, Any] = json.loads(line)
        for event in item.get("data", {}).get("events", ()):
            found.append((event["kind"], event["message"], event["tick_id"]))
    return found


def flushed_events(store: JournaledStore) -> list[tuple[str, str, str | None]]:
    return [(e.kind, e.message, e.tick_id) for e in store.events() if JOURNAL_KEY in e.payload]


async def test_database_stopped_mid_run_when_breach_then_orders_sent_and_journal_flushed_once(
    rig: Rig, pg: PgCluster
) -> None:
    await rig.tick()  # minute 0: 12 % band, sent and recorded in the database
    await rig.tick()
    assert len(rig.fill_ids()) == 1
    events_before = rig.store.count_events()

    pg.stop()
    # minute 6's order: the venue accepts it, the answer and the first look-up are lost
    rig.gateway.plan.add("create_order", [Fault.TIMEOUT_AFTER_ACCEPT])
    rig.gateway.plan.add("fetch_order", [Fault.TIMEOUT])
    for _ in range(7):  # minutes 2..8 with the database down
        await rig.tick()
    assert rig.store.down_since is not None and not rig.store.available
    assert "unreachable" in rig.service.health.reasons[ACCOUNT]["database"]
    journal_alerts = [a for a in rig.service.notifier.sent if a.key == "journal"]
    assert len(journal_alerts) == 1 and "unreachable" in journal_alerts[0].body  # said once
    assert len(rig.fill_ids()) == 2  # the guard kept protecting: the 9 % band went out
    assert rig.gateway.calls["create_order"] == 2
    expected = journaled_events(rig.store.journal.path)
    kinds = [kind for kind, _, _ in expected]
    assert "intent" in kinds and "order_unknown" in kinds and "order_filled" in kinds
    assert kinds.count("evaluation") == 7  # every tick of the outage is journaled
    assert "error" not in kinds  # the ticks themselves worked

    pg.start()
    await rig.tick()  # minute 9: the first store call flushes the journal, then the tick runs
    assert rig.store.available and rig.store.journal.pending() == []
    assert rig.store.outages == 1
    assert "database" not in rig.service.health.reasons[ACCOUNT]
    assert flushed_events(rig.store) == expected  # in order, each exactly once
    every = [(e.kind, e.message, e.tick_id, e.at) for e in rig.store.events()]
    assert len(every) == len(set(every))
    assert rig.store.count_events() >= events_before + len(expected)
    ok, _, summary = rig.store.verify_chain()
    assert ok, summary
    fills = rig.fill_ids()
    assert len(fills) == len(set(fills)) == 2  # no order sent twice
    intents = rig.store.intents(ACCOUNT)
    assert sorted(i.client_order_id for i in intents) == sorted(fills)
    assert [i.status for i in intents] == [OrderStatus.FILLED, OrderStatus.FILLED]
    assert intents[1].filled_quantity == D("0.2")  # 20 % of the episode's starting size
    summary_row = rig.store.summaries()[ACCOUNT]
    assert summary_row["last_tick_id"].endswith("T000900.000000Z")


async def test_lock_set_before_outage_when_breach_during_it_then_still_honoured(
    rig: Rig, pg: PgCluster
) -> None:
    await rig.tick()  # minute 0: sent
    lock = rig.store.set_lock(
        reason="manual hedge in progress", actor="ops", at=rig.venue.now, account=ACCOUNT
    )
    await rig.tick()  # minute 1 reads the lock
    pg.stop()
    for _ in range(6):  # minutes 2..7: the 9 % band is breached at minute 6 but held
        await rig.tick()
    assert len(rig.fill_ids()) == 1
    pg.start()
    await rig.tick()  # minute 8: flush; still locked
    suppressed = rig.store.tail(50, ACCOUNT, "order_suppressed")
    assert suppressed and all(f"lock #{lock.id}" in e.message for e in suppressed)
    assert suppressed[0].tick_id is not None and suppressed[0].tick_id.endswith("T000600.000000Z")
    rig.store.clear_lock(lock.id, actor="ops", at=rig.venue.now)
    await rig.tick()  # minute 9: the held step fires now
    assert len(rig.fill_ids()) == 2
    assert rig.store.verify_chain()[0]


async def test_process_crashes_during_flush_when_restarted_then_no_row_written_twice(
    rig: Rig, pg: PgCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    await rig.tick()
    pg.stop()
    for _ in range(7):
        await rig.tick()
    entries = len(rig.store.journal.pending())
    assert entries >= 8
    expected = journaled_events(rig.store.journal.path)
    pg.start()

    marks = {"count": 0}
    original = Journal.mark_applied

    def crash_on_third(journal: Journal, seq: int) -> None:
        marks["count"] += 1
        if marks["count"] == 3:  # entry 3 is committed but the process dies before noting it
            raise RuntimeError("process killed during the flush")
        original(journal, seq)

    monkeypatch.setattr(Journal, "mark_applied", crash_on_third)
    with pytest.raises(RuntimeError, match="killed"):
        rig.store.flush()
    monkeypatch.setattr(Journal, "mark_applied", original)
    rig.store.dispose()

    restarted = JournaledStore(pg.url, rig.store.journal.path, probe_interval=0)
    try:
        assert len(restarted.journal.pending()) == entries - 2
        written = restarted.flush()
        assert written == entries - 3  # entry 3 was found by its idempotency key
        assert flushed_events(restarted) == expected
        ok, _, summary = restarted.verify_chain()
        assert ok, summary
        assert restarted.journal.pending() == []
    finally:
        restarted.dispose()


def test_first_entry_of_outage_already_committed_when_flushed_then_matched_by_content(
    tmp_path: Path,
) -> None:
    store = JournaledStore(f"sqlite:///{tmp_path / 'guard.db'}", tmp_path / "journal.jsonl")
    store.create_schema()
    try:
        event = AuditEvent(EventKind.ERROR, "snapshot failed: boom", account=ACCOUNT, tick_id="t1")
        store.audit([event], T0)  # committed, but suppose the acknowledgement was lost
        data = {"events": [json.loads(json.dumps(_event_dict(event)))]}
        store.journal.append("audit", T0, data, uncertain=True)
        store.journal.append("audit", T0, data, uncertain=False)  # a true repeat, later
        assert store.flush() == 1
        assert store.count_events("error") == 2
        assert store.verify_chain()[0]
    finally:
        store.dispose()


def _event_dict(event: AuditEvent) -> dict[str, Any]:
    return {
        "kind": event.kind.value,
        "message": event.message,
        "account": event.account,
        "symbol": event.symbol,
        "rule_id": event.rule_id,
        "tick_id": event.tick_id,
        "fingerprint": event.fingerprint,
        "actor": event.actor,
        "client_order_id": event.client_order_id,
        "payload": dict(event.payload),
    }


def test_journal_with_torn_last_line_when_reopened_then_earlier_entries_kept(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.jsonl"
    journal = Journal(path)
    journal.append("audit", T0, {"events": []}, uncertain=False)
    with path.open("a") as handle:
        handle.write('{"seq": 2, "op": "aud')  # the write that never returned
    reopened = Journal(path)
    assert reopened.id == journal.id
    assert [e.seq for e in reopened.pending()] == [1]
    reopened.append("audit", T0, {"events": []}, uncertain=False)  # starts on a fresh line
    assert [e.seq for e in Journal(path).pending()] == [1, 2]


def test_journal_with_garbage_in_the_middle_when_reopened_then_skipped_and_named_by_file_and_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.jsonl"
    Journal(path).append("audit", T0, {"events": []}, uncertain=False)
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], "not json", lines[1]]) + "\n")
    reopened = Journal(path)  # the guard starts: every complete record kept
    assert [e.seq for e in reopened.pending()] == [1]
    assert reopened.recovery.messages() == [
        f"{path}:2: skipped 9 bytes at byte {len(lines[0]) + 1}: incomplete (no checksum at its end)"
    ]
    path.write_text("not json\n" + path.read_text())  # no header: not a journal at all
    with pytest.raises(JournalCorrupt, match=rf"{path}:1: not JSON"):
        Journal(path)


def test_database_unreachable_when_admitting_then_local_admission_feeds_reads(
    tmp_path: Path,
) -> None:
    store = JournaledStore("postgresql+psycopg://nobody@127.0.0.1:1/none", tmp_path / "j.jsonl")
    plan = OrderPlan(
        account=ACCOUNT,
        symbol=BTC,
        side=OrderSide.SELL,
        quantity=D("0.2"),
        position_side=Side.LONG,
        margin_mode=MarginMode.CROSS,
        client_order_id="g-1",
        limit_price=D(50000),
    )
    try:
        admission = store.admit(
            ACCOUNT, [plan], T0, tick_id="t", fingerprint=None, actor="guard", dry_run=False,
            state=None,
        )  # fmt: skip
        assert store.down_since is not None and "unreachable" in (store.problem or "")
        assert admission.admitted == (plan,)
        assert store.window_totals(T0 - timedelta(minutes=1)) == {ACCOUNT: (1, D("10000.0"))}
        assert store.load_state(ACCOUNT).in_flight == {plan.key: D("0.2")}
        assert [i.client_order_id for i in store.unresolved_intents(ACCOUNT)] == ["g-1"]
        assert store.pending_requests(ACCOUNT) == []
        again = store.admit(
            ACCOUNT, [plan], T0, tick_id="t2", fingerprint=None, actor="guard", dry_run=False,
            state=None,
        )  # fmt: skip
        assert again.duplicates == (plan,) and again.admitted == ()
        assert [e.op for e in store.journal.pending()] == ["admit", "admit"]
    finally:
        store.dispose()


async def test_guard_yaml_names_a_journal_when_run_then_journaled_store_used_and_left_empty(
    tmp_path: Path,
) -> None:
    from guard.service.runner import Runner
    from tests.service.test_runner import _config

    path = _config(tmp_path)
    path.write_text(
        path.read_text().replace("  housekeeping: 1h\n", "  housekeeping: 1h\n  journal: j.jsonl\n")
    )
    runner = Runner(path, install_signals=False)
    assert isinstance(runner.store, JournaledStore)
    assert runner.store.journal.path == tmp_path / "j.jsonl"
    assert await asyncio.wait_for(runner.run(), 30) == 0
    store = Store(f"sqlite:///{tmp_path / 'guard.db'}")
    try:
        assert store.count_events("order_filled") >= 1  # written straight to the database
    finally:
        store.dispose()
    assert Journal(tmp_path / "j.jsonl").pending() == []
