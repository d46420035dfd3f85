"""The journaled store's known file (guard.store.journal_known): a save re-encodes only the states
that changed since the last save (issue 17: the file is written once a second, most accounts did
not tick meanwhile), and the file it writes is the same as a save without the cache."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

import guard.store.journal_known as journal_known
from guard.core.domain import GuardState
from guard.store.journal_known import Known, load_known, save_known

AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def state(peak: str) -> GuardState:
    return GuardState(equity_peaks=((AT, Decimal(peak)),))


def test_save_known_when_one_state_changed_since_then_only_it_is_encoded_and_file_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    known = Known(states={f"acct-{i}": state(f"{1000 + i}.5") for i in range(20)})
    encoded: dict[str, tuple[GuardState, str]] = {}
    cached, plain = tmp_path / "cached.known.json", tmp_path / "plain.known.json"
    save_known(cached, known, AT, encoded)
    calls: list[GuardState] = []
    original = journal_known.state_to_json

    def counted(value: GuardState) -> str:
        calls.append(value)
        return original(value)

    monkeypatch.setattr(journal_known, "state_to_json", counted)
    known.states["acct-3"] = state("7.25")  # this account ticked; the others did not
    del known.states["acct-4"]
    save_known(cached, known, AT, encoded)
    assert calls == [known.states["acct-3"]]
    assert set(encoded) == set(known.states)
    save_known(plain, known, AT)  # no cache: every state encoded
    assert cached.read_text(encoding="utf-8") == plain.read_text(encoding="utf-8")
    loaded = load_known(cached)
    assert loaded is not None and loaded.states == known.states
