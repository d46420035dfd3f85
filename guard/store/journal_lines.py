"""The outage journal's lines: one JSON record each, closed by its own CRC32; and their recovery."""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

FORMAT = 2  # the header's "format"; a header without one is the first, unframed format
_CHECK = re.compile(rb',"crc32":"([0-9a-f]{8})"\}$')


class JournalCorrupt(Exception):
    """The journal cannot be used at all; the message names the file and line.

    Raised only when the first line is not a journal header. That line is written whole, by an
    atomic rename, and never appended to, so no failed or interrupted write can tear it; without
    it the journal id, which the flush's idempotency keys are made of, is unknown and the file
    may not be a journal at all, so the guard refuses to guess (or to overwrite it) and a human
    looks. Torn or corrupt records anywhere after it are skipped and reported (`Recovery`).
    """


@dataclass(frozen=True, slots=True)
class Entry:
    """One journaled write: its sequence number, operation, time and encoded arguments."""

    seq: int
    op: str
    at: datetime
    data: Mapping[str, Any]
    uncertain: bool = False  # the original write failed mid-way: it may have committed


def encode(record: Mapping[str, Any]) -> bytes:
    """One line: the record as compact sorted JSON with `"crc32"`, the CRC32 of that JSON, added
    as the object's last member; still one JSON object a person can read."""
    body = json.dumps(record, sort_keys=True, separators=(",", ":")).encode("ascii")
    return body[:-1] + b',"crc32":"%08x"}\n' % zlib.crc32(body)


@dataclass(frozen=True, slots=True)
class Skipped:
    """Bytes of the journal file that recovery did not read as a record."""

    line: int  # 1-based line number in the file as found
    offset: int  # byte offset of the first skipped byte
    length: int  # bytes skipped (a line's end of line included)
    reason: str

    def describe(self, path: Path) -> str:
        return (
            f"{path}:{self.line}: skipped {self.length} bytes at byte {self.offset}: {self.reason}"
        )


@dataclass(frozen=True, slots=True)
class Recovery:
    """What reading a journal file found: its id, its complete entries and applied marks, what
    was skipped, and where its readable part ends (a torn last line is not part of it)."""

    path: Path
    id: str
    entries: tuple[Entry, ...]
    applied: int
    skipped: tuple[Skipped, ...]
    end: int

    def messages(self) -> list[str]:
        return [skip.describe(self.path) for skip in self.skipped]


def read(path: Path, raw: bytes) -> Recovery:
    """Every complete record of `raw`, the bytes of the journal at `path`.

    A record counts only when its line ends with an end of line and, in a framed journal (its
    header has `"format"`), carries a matching `"crc32"`; an unframed line of an older journal
    counts when it is JSON of a known kind. A bad line is skipped and reported (line, byte
    offset, length, why), except that a complete record ending the line (written after a torn
    one, as the first format did) is kept and only the bytes before it are skipped. A last line
    without an end of line is a write that never returned: skipped too.
    """
    lines = raw.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with an end of line
    header = _record(lines[0], framed=False) if lines else "no journal header"
    if isinstance(header, str) or "journal" not in header:
        raise JournalCorrupt(f"{path}:1: {header if isinstance(header, str) else 'no header'}")
    framed = "format" in header
    entries: list[Entry] = []
    applied = 0
    skipped: list[Skipped] = []
    offset = len(lines[0]) + 1
    for number, line in enumerate(lines[1:], start=2):
        start, offset = offset, offset + len(line) + 1
        if not line.strip():
            continue
        found = _item(line, framed)
        if isinstance(found, str):
            cut, salvaged = _salvage(line, framed)
            if salvaged is not None:
                why = f"torn record before a complete one ({found})"
                skipped.append(Skipped(number, start, cut, why))
                found = salvaged
        if isinstance(found, str):
            skipped.append(Skipped(number, start, len(line) + 1, found))
        elif isinstance(found, Entry):
            entries.append(found)
        else:
            applied = max(applied, found)
    if tail:
        why = "torn last record (no end of line: its write never returned)"
        skipped.append(Skipped(len(lines) + 1, offset, len(tail), why))
    return Recovery(path, str(header["journal"]), tuple(entries), applied, tuple(skipped), offset)


def _record(line: bytes, framed: bool) -> dict[str, Any] | str:
    """The line's JSON object, or why it is not one."""
    check = _CHECK.search(line)
    if check is not None:
        body = line[: check.start()] + b"}"
        if int(check.group(1), 16) != zlib.crc32(body):
            return "checksum mismatch (corrupt)"
        line = body
    elif framed:
        return "incomplete (no checksum at its end)"
    try:
        item = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        return "not UTF-8"
    except json.JSONDecodeError as error:
        return f"not JSON ({error.msg})"
    return item if isinstance(item, dict) else "not a JSON object"


def _item(line: bytes, framed: bool) -> Entry | int | str:
    """The line as an entry, as an applied mark (its seq), or why it is neither."""
    item = _record(line, framed)
    if isinstance(item, str):
        return item
    try:
        if "seq" in item:
            data = item["data"]
            if not isinstance(data, dict):
                return "entry without data"
            at = datetime.fromisoformat(item["at"])
            return Entry(int(item["seq"]), str(item["op"]), at, data, bool(item.get("uncertain")))
        if "applied" in item:
            return int(item["applied"])
    except (KeyError, TypeError, ValueError) as error:
        return f"bad record ({type(error).__name__}: {error})"
    return "a second journal header" if "journal" in item else "not a journal record"


def _salvage(line: bytes, framed: bool) -> tuple[int, Entry | int | None]:
    """(bytes before it, record) for the first complete record that ends the line, if any."""
    at = line.find(b'{"', 1)
    while at > 0:
        found = _item(line[at:], framed)
        if not isinstance(found, str):
            return at, found
        at = line.find(b'{"', at + 1)
    return 0, None
