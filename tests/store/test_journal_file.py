"""The outage journal cannot tear: a failed write leaves nothing, recovery keeps every complete
record wherever the damage is and reports what it skipped, and an old journal still reads."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from guard.store.journal_file import Journal, JournalCorrupt, JournalWriteFailed, Skipped
from tests.builders import T0

EVENTS: dict[str, list[object]] = {"events": []}


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "journal.jsonl"


def fill(path: Path, count: int) -> Journal:
    journal = Journal(path)
    for number in range(count):
        journal.append("audit", T0, {"events": [], "n": number}, uncertain=False)
    return journal


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def enospc_halfway(monkeypatch: pytest.MonkeyPatch, *, cut_fails: bool = False) -> None:
    """The next write puts half its bytes on disk, then the disk is full."""
    real_write = os.write

    def torn_write(descriptor: int, data: bytes) -> int:
        real_write(descriptor, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    def no_truncate(descriptor: int, length: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "write", torn_write)
    if cut_fails:
        monkeypatch.setattr(os, "ftruncate", no_truncate)


def test_append_when_write_fails_with_enospc_halfway_then_no_partial_record_and_next_lands_whole(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = fill(path, 2)
    before = path.read_bytes()
    with monkeypatch.context() as patch:
        enospc_halfway(patch)
        with pytest.raises(JournalWriteFailed, match=r"No space left on device.*back to its"):
            journal.append("audit", T0, {"events": [], "n": 2}, uncertain=False)
    assert path.read_bytes() == before  # not one byte of the failed record is left
    assert [e.seq for e in journal.pending()] == [1, 2]  # and it is not pretended durable
    journal.append("audit", T0, {"events": [], "n": 2}, uncertain=False)
    reopened = Journal(path)
    assert reopened.recovery.skipped == ()
    assert [(e.seq, e.data["n"]) for e in reopened.pending()] == [(1, 0), (2, 1), (3, 2)]


def test_append_when_partial_bytes_cannot_be_cut_then_next_write_cuts_them_first(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = fill(path, 1)
    before = path.read_bytes()
    with monkeypatch.context() as patch:
        enospc_halfway(patch, cut_fails=True)
        with pytest.raises(JournalWriteFailed, match="could not be cut"):
            journal.append("audit", T0, EVENTS, uncertain=False)
    assert len(path.read_bytes()) > len(before)  # the torn half is still there
    journal.append("audit", T0, EVENTS, uncertain=False)
    assert path.read_bytes().startswith(before) and len(lines_of(path)) == 3
    reopened = Journal(path)
    assert reopened.recovery.skipped == ()
    assert [e.seq for e in reopened.pending()] == [1, 2]


def test_open_when_torn_records_in_middle_and_at_end_then_complete_kept_and_skips_reported(
    path: Path,
) -> None:
    journal = fill(path, 4)
    journal.mark_applied(1)
    lines = lines_of(path)  # header, entries 1-4, applied 1
    torn = lines[2][:30]  # entry 2's first 30 bytes, then (as before the fix) entry 3 on its own
    flipped = lines[4].replace(b'"n":3', b'"n":9')  # entry 4 with a bit flipped: bad checksum
    path.write_bytes(b"".join([lines[0], lines[1], torn + b"\n", lines[3], flipped, lines[5]]))
    path.write_bytes(path.read_bytes() + lines[2][:40])  # and a torn last line
    offsets = [0]
    for line in [lines[0], lines[1], torn + b"\n", lines[3], flipped, lines[5]]:
        offsets.append(offsets[-1] + len(line))

    reopened = Journal(path)
    assert reopened.id == journal.id
    assert [(e.seq, e.data["n"]) for e in reopened.entries] == [(1, 0), (3, 2)]
    assert reopened.applied == 1
    assert reopened.recovery.skipped == (
        Skipped(3, offsets[2], 31, "incomplete (no checksum at its end)"),
        Skipped(5, offsets[4], len(flipped), "checksum mismatch (corrupt)"),
        Skipped(7, offsets[6], 40, "torn last record (no end of line: its write never returned)"),
    )
    messages = reopened.recovery.messages()
    assert messages[0] == (
        f"{path}:3: skipped 31 bytes at byte {offsets[2]}: incomplete (no checksum at its end)"
    )
    assert len(path.read_bytes()) == offsets[6]  # the torn last line was cut off
    added = reopened.append("audit", T0, EVENTS, uncertain=False)
    assert added.seq > 4  # never the number of an entry the damage may have hidden
    again = Journal(path)
    assert [e.seq for e in again.pending()] == [3, added.seq]
    assert [s.line for s in again.recovery.skipped] == [3, 5]  # still said, nothing new


def test_open_when_old_format_record_glued_to_a_torn_one_then_complete_one_kept(
    path: Path,
) -> None:
    # what the previous version left after a write failed half-way: the next record was
    # appended onto the partial bytes, mid-file
    old = [
        json.dumps({"journal": "0123456789abcdef"}),
        *(
            json.dumps(
                {"seq": seq, "op": "audit", "at": T0.isoformat(), "data": {"n": seq}},
                sort_keys=True,
                separators=(",", ":"),
            )
            for seq in (1, 2, 3)
        ),
    ]
    glued = old[3][:25] + old[3]  # entry 3 torn, then entry 3 again, whole
    path.write_text("\n".join([old[0], old[1], old[2], glued, '{"applied":1}']) + "\n")
    journal = Journal(path)
    assert [e.seq for e in journal.pending()] == [2, 3]
    start = sum(len(line) + 1 for line in old[:3])
    assert journal.recovery.skipped == (
        Skipped(4, start, 25, "torn record before a complete one (not JSON (Expecting ',' "
                "delimiter))"),
    )  # fmt: skip


def test_open_when_old_format_journal_then_every_record_read_and_appends_framed(
    path: Path,
) -> None:
    header = json.dumps({"journal": "0123456789abcdef"})
    entry = {"seq": 1, "op": "audit", "at": T0.isoformat(), "data": EVENTS, "uncertain": True}
    path.write_text(header + "\n" + json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n")
    journal = Journal(path)
    assert journal.id == "0123456789abcdef" and journal.recovery.skipped == ()
    assert [(e.seq, e.uncertain) for e in journal.pending()] == [(1, True)]
    journal.append("audit", T0, EVENTS, uncertain=False)
    last = json.loads(lines_of(path)[-1])
    assert last["seq"] == 2 and len(last["crc32"]) == 8
    assert [e.seq for e in Journal(path).pending()] == [1, 2]


def test_open_when_first_line_is_not_a_header_then_journal_corrupt_names_file(
    path: Path,
) -> None:
    path.write_text("this is not a journal\n")
    with pytest.raises(JournalCorrupt, match=rf"{path}:1: not JSON"):
        Journal(path)
    assert path.read_text() == "this is not a journal\n"  # left for a human, not overwritten
