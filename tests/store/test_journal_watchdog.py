"""The hang watchdog and a long journal flush (issue 21): a flush that keeps applying entries is
never cut, however often the database thread asks (it asks every 10 ms past its bound); a flush
that applied nothing for FLUSH_STALL seconds is a hang and is cut."""

from __future__ import annotations

from pathlib import Path

import pytest

from guard.store.database import Database
from guard.store.journal_flush import FLUSH_STALL
from guard.store.journaled_store import JournaledStore


def test_interrupt_when_flush_progresses_then_never_cut_and_when_stalled_then_cut(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cuts: list[int] = []
    monkeypatch.setattr(Database, "interrupt", lambda self: cuts.append(1) or 1)
    clock = [100.0]
    store = JournaledStore(
        f"sqlite:///{tmp_path / 'g.db'}", tmp_path / "j.jsonl", monotonic=lambda: clock[0]
    )
    try:
        store._flushing, store._progress_at = True, clock[0]
        for _ in range(50):  # asked every 10 ms; an entry applied every 40 ms
            clock[0] += 0.01
            if round(clock[0] * 100) % 4 == 0:
                store._progress_at = clock[0]
            assert store.interrupt() == 0
        assert cuts == []
        clock[0] += FLUSH_STALL  # nothing applied for the stall bound: a hang
        assert store.interrupt() == 1 and cuts == [1]
        store._flushing = False  # not flushing: any call past the bound is cut
        assert store.interrupt() == 1
    finally:
        store.dispose()
