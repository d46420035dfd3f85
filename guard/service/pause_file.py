"""The pause file on disk (I/O): where it is, reading it (re-parsed only when it changed; an
unreadable file fails safe as a pause of every account), writing it atomically (temp file, fsync,
rename), and the egress gate's view of it. Works with the database down: that is its purpose."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from guard.core.gate import LockSeen
from guard.core.pause import Pause, PauseFile, malformed, parse_pause_file, render_pause_file
from guard.service.config import GuardConfig

PAUSE_FILE_NAME = "guard.pause.json"
PAUSE_LOCK_ID = 0  # a pause has no lock row: the gate and a flatten's override name it by text


def pause_path(config: GuardConfig, config_path: Path) -> Path:
    """service.pause_file (relative: to guard.yaml), else beside the journal, else beside a
    SQLite database, else beside guard.yaml."""
    base = config_path.resolve().parent
    service = config.service
    if service.pause_file is not None:
        chosen = service.pause_file
        return chosen if chosen.is_absolute() else base / chosen
    if service.journal is not None:
        journal = service.journal if service.journal.is_absolute() else base / service.journal
        return journal.parent / PAUSE_FILE_NAME
    url = service.database_url
    if isinstance(url, str) and url.startswith("sqlite:///") and not url.endswith(":memory:"):
        database = Path(url.removeprefix("sqlite:///"))
        return (database if database.is_absolute() else Path.cwd() / database).parent / (
            PAUSE_FILE_NAME
        )
    return base / PAUSE_FILE_NAME


class PauseReader:
    """Reads one pause file; a stat per call, a parse only when it changed."""

    def __init__(self, path: Path, clock: Callable[[], datetime]) -> None:
        self.path = path
        self.clock = clock
        self._seen: tuple[int, int, int] | None = None
        self._file = PauseFile()

    def read(self) -> PauseFile:
        """What the file says now: no file → no pause; unreadable or malformed → fail safe."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._seen, self._file = None, PauseFile()
            return self._file
        except OSError as error:
            return malformed(f"cannot stat it: {error.strerror or error}", self.clock())
        signature = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if signature == self._seen:
            return self._file
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            self._seen, self._file = None, PauseFile()
            return self._file
        except (OSError, UnicodeDecodeError) as error:
            return malformed(f"cannot read it: {error}", self.clock())
        self._seen, self._file = signature, parse_pause_file(text, self.clock())
        return self._file

    def covering(self, account: str, symbol: str, at: datetime) -> tuple[LockSeen, ...]:
        """The egress gate's view: every active pause covering this account and market."""
        return tuple(
            LockSeen(PAUSE_LOCK_ID, pause.describe(str(self.path)))
            for pause in self.read().covering(account, symbol, at)
        )


def write_pauses(path: Path, pauses: tuple[Pause, ...]) -> None:
    """Replace the pause file atomically (a reader sees the old file or the new one, whole)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(render_pause_file(pauses))
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
