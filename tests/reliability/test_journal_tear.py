"""Database down and the journal's disk full: no order goes out without a durable intent; a torn
journal, or one left by the previous version, still starts the guard and flushes every complete
record, with what was skipped audited."""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from guard.core.audit import AuditEvent, EventKind
from guard.core.domain import OrderPlan, OrderResult, OrderStatus
from guard.gateway.faults import FaultyGateway
from guard.store.intent_records import NOT_FINAL
from guard.store.journal_codec import JOURNAL_KEY, event_data
from guard.store.journal_file import Journal
from guard.store.journaled_store import JournaledStore
from tests.builders import T0
from tests.reliability.test_database_outage import ACCOUNT, Rig, make_rig


class Disk:
    """os.write for the journal: `room` more writes succeed (None: all), then each puts half
    its bytes on disk and fails with ENOSPC."""

    def __init__(self) -> None:
        self.room: int | None = None
        self.failed = 0
        self._write = os.write

    def write(self, descriptor: int, data: bytes) -> int:
        if self.room is None or self.room > 0:
            self.room = None if self.room is None else self.room - 1
            return self._write(descriptor, data)
        self.failed += 1
        self._write(descriptor, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> Disk:
    made = Disk()
    monkeypatch.setattr(os, "write", made.write)
    return made


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    (tmp_path / "db").mkdir()
    made = make_rig(f"sqlite:///{tmp_path / 'db' / 'guard.db'}", tmp_path / "journal.jsonl")
    yield made
    made.store.dispose()


def database_down(rig: Rig, tmp_path: Path, down: bool) -> None:
    """Take the SQLite database away (its folder renamed: connecting fails) or bring it back."""
    here, away = tmp_path / "db", tmp_path / "db-away"
    rig.store.engine.dispose()
    (here if down else away).rename(away if down else here)


def guard_sends(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The client ids sent to the venue; each send first checks, on disk, that the intent and
    its sent mark are durable (in the journal while the database is down)."""
    sent: list[str] = []
    create = FaultyGateway.create_order

    async def checked(gateway: FaultyGateway, plan: OrderPlan) -> OrderResult:
        if rig.store.down_since is not None:
            entries = Journal(rig.store.journal.path).entries
            admitted = [
                i["plan"]["client_order_id"] for e in entries if e.op == "admit"
                for i in e.data["intents"]
            ]  # fmt: skip
            marked = [
                e.data["result"]["client_order_id"] for e in entries if e.op == "update_intent"
                and e.data["result"]["status"] == OrderStatus.SENT.value
            ]  # fmt: skip
            assert plan.client_order_id in admitted and plan.client_order_id in marked
        sent.append(plan.client_order_id)
        return await create(gateway, plan)

    monkeypatch.setattr(FaultyGateway, "create_order", checked)
    return sent


@pytest.mark.parametrize(("room", "what"), [(0, "the intent"), (1, "the gate's sent mark")])
async def test_breach_when_database_down_and_journal_full_then_nothing_sent_until_it_is_durable(
    rig: Rig, tmp_path: Path, disk: Disk, monkeypatch: pytest.MonkeyPatch, room: int, what: str
) -> None:
    sent = guard_sends(rig, monkeypatch)
    await rig.tick()  # minute 0: 12 % band sent, locks and state read from the database
    await rig.tick()
    assert len(sent) == 1
    database_down(rig, tmp_path, True)
    for _ in range(4):  # minutes 2..5: no breach, only tick state to journal
        await rig.tick()
    size = rig.store.journal.path.stat().st_size
    disk.room = room  # minute 6 breaches the 9 % band: `what` is the first write that fails
    for _ in range(2):  # minutes 6 and 7
        await rig.tick()
    assert disk.failed >= 2
    assert len(sent) == 1  # nothing sent without a durable record
    assert "JournalWriteFailed" in rig.service.health.reasons[ACCOUNT]["tick"]
    assert "unreachable" in rig.service.health.reasons[ACCOUNT]["database"]
    assert Journal(rig.store.journal.path).recovery.skipped == ()  # no partial record left
    grown = rig.store.journal.path.stat().st_size - size
    assert grown == 0 if room == 0 else grown > 0  # with room for one: only the intent

    disk.room = None  # space again: minute 8 sends the reduction held up (checked durable)
    await rig.tick()
    assert len(sent) == len(set(sent)) == 2
    database_down(rig, tmp_path, False)
    await rig.tick()  # minute 9: flushed
    assert rig.store.journal.pending() == []
    intents = rig.store.intents(ACCOUNT)
    assert sorted(i.client_order_id for i in intents) == sorted(sent)
    assert all(i.status.value not in NOT_FINAL for i in intents)
    assert rig.store.verify_chain()[0]


def _audit_entry(journal: Journal, message: str) -> None:
    event = AuditEvent(EventKind.ERROR, message, account=ACCOUNT)
    journal.append("audit", T0, {"events": [event_data(event)]}, uncertain=False)


def test_journal_torn_in_middle_and_at_end_when_store_starts_then_rest_flushed_and_skips_audited(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.jsonl"
    journal = Journal(path)
    for number in range(1, 5):
        _audit_entry(journal, f"event {number}")
    lines = path.read_bytes().splitlines(keepends=True)
    torn = lines[2][:50] + b"\n"  # entry 2 torn in the middle of the file
    path.write_bytes(b"".join([lines[0], lines[1], torn, *lines[3:]]) + lines[4][:20])
    offset = len(lines[0]) + len(lines[1])

    store = JournaledStore(f"sqlite:///{tmp_path / 'guard.db'}", path)  # starts
    store.create_schema()
    try:
        assert [e.seq for e in store.journal.pending()] == [1, 3, 4]
        assert store.flush() == 3
        events = list(store.events())
        assert [e.message for e in events if JOURNAL_KEY in e.payload] == [
            "event 1",
            "event 3",
            "event 4",
        ]
        skips = [e for e in events if e.message.startswith("journal recovery")]
        assert [(e.payload["line"], e.payload["offset"], e.payload["length"]) for e in skips] == [
            (3, offset, 51),
            (6, offset + 51 + len(lines[3]) + len(lines[4]), 20),
        ]
        assert str(path) in skips[0].message and "skipped 51 bytes at byte" in skips[0].message
        assert store.verify_chain()[0]
        assert store.journal.entries == [] and Journal(path).recovery.skipped == ()
    finally:
        store.dispose()


def test_journal_left_by_previous_version_with_torn_record_mid_file_when_started_then_flushed(
    tmp_path: Path,
) -> None:
    # as measured before the fix: entry 3's write failed half-way (disk full), entry 3 was
    # written again onto its partial bytes, then entry 4; the old start-up refused with
    # "JournalCorrupt: ...:4: not JSON"
    def old(seq: int, message: str) -> str:
        event = AuditEvent(EventKind.ERROR, message, account=ACCOUNT)
        item = {
            "seq": seq,
            "op": "audit",
            "at": T0.isoformat(),
            "data": {"events": [event_data(event)]},
        }
        return json.dumps(item, sort_keys=True, separators=(",", ":"))

    header = json.dumps({"journal": "0123456789abcdef"})
    third = old(3, "event 3")
    lines = [header, old(1, "event 1"), old(2, "event 2"), third[:70] + third, old(4, "event 4")]
    path = tmp_path / "journal.jsonl"
    path.write_text("\n".join(lines) + "\n")
    store = JournaledStore(f"sqlite:///{tmp_path / 'guard.db'}", path)
    store.create_schema()
    try:
        assert store.journal.id == "0123456789abcdef"
        assert store.flush() == 4
        flushed = [e for e in store.events() if JOURNAL_KEY in e.payload]
        assert [e.message for e in flushed] == ["event 1", "event 2", "event 3", "event 4"]
        assert [e.payload[JOURNAL_KEY] for e in flushed][-1] == "0123456789abcdef/4"
        assert store.count_events("error") == 5  # and one saying what was skipped
        assert store.verify_chain()[0]
    finally:
        store.dispose()
