"""The outage journal's file: checksummed JSON lines, each appended whole (fsync'ed) or not at all."""

from __future__ import annotations

import contextlib
import errno
import os
import uuid
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from guard.store.journal_lines import (
    FORMAT,
    Entry,
    JournalCorrupt,
    Recovery,
    Skipped,
    encode,
    read,
)

__all__ = ["Entry", "Journal", "JournalCorrupt", "JournalWriteFailed", "Recovery", "Skipped"]


class JournalWriteFailed(Exception):
    """A record could not be made durable (e.g. no space left on device); the file was put back
    to its length before the write, so the record is not in it and must not be relied on."""


class Journal:
    """An append-only file of lines (guard.store.journal_lines): a header naming the journal,
    entries, applied marks.

    Each record is written and fsync'ed before `append` returns; when that fails the file is
    truncated back to its length before the write (and fsync'ed) and `JournalWriteFailed` is
    raised. Opening an existing file keeps every complete record and skips torn or corrupt bytes
    wherever they are; `recovery` says what was skipped (the caller logs and audits it). Once
    every entry is applied the file is replaced (atomically) by a fresh journal with a new id.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.id = ""
        self.entries: list[Entry] = []
        self.applied = 0
        self._seq = 0  # the last sequence number used or possibly used
        self._end = 0  # the file's length after the last complete record
        self.recovery = Recovery(path, "", (), 0, (), 0)
        if path.exists() and path.stat().st_size > 0:
            self._load()
        else:
            self._start()

    def _start(self) -> None:
        journal = uuid.uuid4().hex[:16]
        header = encode({"journal": journal, "format": FORMAT})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fresh = self.path.with_name(self.path.name + ".new")
        try:
            with fresh.open("wb") as handle:
                handle.write(header)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(fresh, self.path)
        except OSError as error:
            fresh.unlink(missing_ok=True)
            raise JournalWriteFailed(
                f"{self.path}: a fresh journal not written: {error}"
            ) from error
        _fsync_dir(self.path.parent)
        self.id, self.entries, self.applied = journal, [], 0
        self._seq, self._end = 0, len(header)

    def _load(self) -> None:
        found = read(self.path, self.path.read_bytes())
        self.recovery = found
        self.id = found.id
        self.entries = list(found.entries)
        self.applied = found.applied
        # corrupt bytes may have held entries (even ones flushed under their keys): no sequence
        # number they could have used is reused; each record takes more than one byte, so the
        # next one jumps by the bytes skipped (a torn last line's write never returned: no entry)
        last = max([self.applied, *(e.seq for e in self.entries)])
        self._seq = last + sum(skip.length for skip in found.skipped if skip.offset < found.end)
        self._end = found.end
        if self.path.stat().st_size > found.end:  # a torn last line: cut it off now, or
            with contextlib.suppress(OSError):  # the next write cuts it first
                self._truncate(found.end)

    def _truncate(self, length: int) -> None:
        with self.path.open("r+b") as handle:
            handle.truncate(length)
            handle.flush()
            os.fsync(handle.fileno())

    def _write(self, record: Mapping[str, Any]) -> None:
        """Append one record whole, or leave the file as it was and raise JournalWriteFailed."""
        line = encode(record)
        try:
            descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        except OSError as error:
            raise JournalWriteFailed(f"{self.path}: not opened for writing: {error}") from error
        try:
            self._append(descriptor, line)
        finally:
            with contextlib.suppress(OSError):  # after the fsync: durable whatever close says
                os.close(descriptor)
        self._end += len(line)

    def _append(self, descriptor: int, line: bytes) -> None:
        try:
            size = os.fstat(descriptor).st_size
            if size != self._end:  # bytes left by an earlier failed write, or a shrunk file
                if size < self._end:
                    raise OSError(f"the file shrank from {self._end} to {size} bytes")
                os.ftruncate(descriptor, self._end)
            written = 0
            while written < len(line):
                count = os.write(descriptor, line[written:])
                if count <= 0:
                    raise OSError(errno.EIO, "the write wrote nothing")
                written += count
            os.fsync(descriptor)
        except OSError as error:
            undone = "the file is back to its length before it"
            try:
                if os.fstat(descriptor).st_size > self._end:
                    os.ftruncate(descriptor, self._end)
                    os.fsync(descriptor)
            except OSError as again:
                undone = f"its partial bytes could not be cut ({again}); the next write cuts them"
            raise JournalWriteFailed(
                f"{self.path}: record not written at byte {self._end}: {error}; {undone}"
            ) from error

    def append(self, op: str, at: datetime, data: Mapping[str, Any], uncertain: bool) -> Entry:
        """Write one entry durably and return it; raises JournalWriteFailed when it could not be."""
        seq = self._seq + 1
        entry = Entry(seq, op, at, data, uncertain)
        record: dict[str, Any] = {"seq": seq, "op": op, "at": at.isoformat(), "data": data}
        if uncertain:
            record["uncertain"] = True
        self._write(record)
        self._seq = seq
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
        self.recovery = Recovery(self.path, self.id, (), 0, (), self._end)

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
