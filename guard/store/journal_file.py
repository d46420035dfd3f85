"""The outage journal's record file: a JSON-lines file of a header, entries and applied marks,
each line fsync'ed before its write returns; a torn last line is cut off on load."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any


class JournalCorrupt(Exception):
    """The journal file cannot be read back; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One journaled write: its sequence number, operation, time and encoded arguments."""

    seq: int
    op: str
    at: datetime
    data: Mapping[str, Any]
    uncertain: bool = False  # the original write failed mid-way: it may have committed


class Journal:
    """An append-only JSON-lines file: a header naming the journal, entries, applied marks.

    Every line is flushed and fsync'ed before `append` returns. Once every entry is applied the
    file is replaced (atomically) by a fresh journal with a new id.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.id = ""
        self.entries: list[Entry] = []
        self.applied = 0
        if path.exists() and path.stat().st_size > 0:
            self._load()
        else:
            self._start()

    def _start(self) -> None:
        self.id = uuid.uuid4().hex[:16]
        self.entries = []
        self.applied = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fresh = self.path.with_name(self.path.name + ".new")
        with fresh.open("w", encoding="utf-8") as handle:
            handle.write(json.dumps({"journal": self.id}) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(fresh, self.path)
        _fsync_dir(self.path.parent)

    def _load(self) -> None:
        raw = self.path.read_bytes()
        if not raw.endswith(b"\n"):
            # a torn last line: its write never returned, so nothing relied on it; cut it off so
            # the next append starts on a fresh line
            raw = raw[: raw.rfind(b"\n") + 1]
            with self.path.open("r+b") as handle:
                handle.truncate(len(raw))
                handle.flush()
                os.fsync(handle.fileno())
        for number, line in enumerate(raw.decode("utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as error:
                raise JournalCorrupt(f"{self.path}:{number}: not JSON ({error.msg})") from error
            if "journal" in item:
                self.id = str(item["journal"])
            elif "applied" in item:
                self.applied = max(self.applied, int(item["applied"]))
            elif "seq" in item:
                self.entries.append(
                    Entry(
                        seq=int(item["seq"]),
                        op=str(item["op"]),
                        at=datetime.fromisoformat(item["at"]),
                        data=item["data"],
                        uncertain=bool(item.get("uncertain", False)),
                    )
                )
            else:
                raise JournalCorrupt(f"{self.path}:{number}: unknown line {line[:80]!r}")
        if not self.id:
            raise JournalCorrupt(f"{self.path}:1: no journal header")

    def _write(self, item: Mapping[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(item, sort_keys=True, separators=(",", ":")) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def append(self, op: str, at: datetime, data: Mapping[str, Any], uncertain: bool) -> Entry:
        seq = (self.entries[-1].seq if self.entries else 0) + 1
        entry = Entry(seq, op, at, data, uncertain)
        line: dict[str, Any] = {"seq": seq, "op": op, "at": at.isoformat(), "data": data}
        if uncertain:
            line["uncertain"] = True
        self._write(line)
        self.entries.append(entry)
        return entry

    def pending(self) -> list[Entry]:
        return [entry for entry in self.entries if entry.seq > self.applied]

    def mark_applied(self, seq: int) -> None:
        self._write({"applied": seq})
        self.applied = seq

    def restart(self) -> None:
        """Replace a fully applied journal by a fresh, empty one."""
        if self.pending():
            raise RuntimeError(f"{self.path}: {len(self.pending())} entries are not applied yet")
        self._start()

    def key(self, seq: int) -> str:
        return f"{self.id}/{seq}"


def _fsync_dir(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:  # not supported on this platform
        return
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
