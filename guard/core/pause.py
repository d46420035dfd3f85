"""The operator's pause file: parse, render and decide what it covers. Pure (text in, values out):
reading and writing the file is the caller's job. A malformed file fails safe: it is one pause of
every account, with the problem named, until an operator fixes or removes it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

PAUSE_FORMAT = 1


@dataclass(frozen=True, slots=True)
class Pause:
    """One pause: every account (account None), one account, or one market of one account."""

    reason: str
    actor: str
    set_at: datetime
    until: datetime | None = None
    account: str | None = None
    market: str | None = None
    problem: str | None = None  # set on the fail-safe pause that stands for a malformed file

    @property
    def key(self) -> str:
        """Names this pause across re-reads (the service audits each key once seen, once ended)."""
        if self.problem is not None:
            return f"malformed:{self.problem}"
        return f"{self.account or '*'}/{self.market or '*'}@{self.set_at.isoformat()}"

    def is_active(self, at: datetime) -> bool:
        return self.until is None or at < self.until

    def covers(self, account: str, symbol: str | None = None) -> bool:
        if self.account is not None and self.account != account:
            return False
        return self.market is None or symbol is None or self.market == symbol

    def describe(self, source: str) -> str:
        if self.problem is not None:
            return f"pause file {source} is malformed ({self.problem}): every account is paused"
        scope = "every account"
        if self.account is not None:
            scope = f"account {self.account}"
            if self.market is not None:
                scope = f"market {self.market} of account {self.account}"
        until = f" until {self.until.isoformat()}" if self.until is not None else ""
        return f"pause of {scope} by {self.actor}{until} ({self.reason}) [{source}]"


@dataclass(frozen=True, slots=True)
class PauseFile:
    """What a pause file says: its pauses, or the fail-safe pause when it is malformed."""

    pauses: tuple[Pause, ...] = ()
    problem: str | None = None

    def active(self, at: datetime) -> tuple[Pause, ...]:
        return tuple(p for p in self.pauses if p.is_active(at))

    def covering(self, account: str, symbol: str | None, at: datetime) -> tuple[Pause, ...]:
        return tuple(p for p in self.active(at) if p.covers(account, symbol))


def malformed(problem: str, at: datetime) -> PauseFile:
    """The fail-safe reading of a file that cannot be trusted: every account paused."""
    return PauseFile(
        (Pause("pause file unreadable", "guard", at, problem=problem),), problem=problem
    )


def _moment(value: Any, where: str) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"{where}: expected an ISO-8601 time with a UTC offset, got {value!r}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{where}: {value!r} is not an ISO-8601 time") from None
    if moment.tzinfo is None:
        raise ValueError(f"{where}: {value!r} has no UTC offset")
    return moment


def _text(entry: dict[str, Any], name: str, where: str, *, optional: bool = False) -> str | None:
    value = entry.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}.{name}: expected a non-empty string, got {value!r}")
    return value


def _pause(entry: Any, where: str) -> Pause:
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected an object, got {type(entry).__name__}")
    unknown = sorted(set(entry) - {"reason", "actor", "set_at", "until", "account", "market"})
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(unknown)}")
    account = _text(entry, "account", where, optional=True)
    market = _text(entry, "market", where, optional=True)
    if market is not None and account is None:
        raise ValueError(f"{where}.market: a market pause needs its account")
    until = entry.get("until")
    return Pause(
        reason=_text(entry, "reason", where) or "",
        actor=_text(entry, "actor", where) or "",
        set_at=_moment(entry.get("set_at"), f"{where}.set_at"),
        until=None if until is None else _moment(until, f"{where}.until"),
        account=account,
        market=market,
    )


def parse_pause_file(text: str, at: datetime) -> PauseFile:
    """The pauses `text` holds; anything malformed → the fail-safe pause naming the problem
    (`at` is when it was read: the fail-safe pause's start)."""
    try:
        data = json.loads(text)
    except ValueError as error:
        return malformed(f"not JSON: {error}", at)
    try:
        if not isinstance(data, dict) or data.get("format") != PAUSE_FORMAT:
            raise ValueError(f'expected {{"format": {PAUSE_FORMAT}, "pauses": [...]}}')
        entries = data.get("pauses")
        if not isinstance(entries, list):
            raise ValueError(f"pauses: expected a list, got {type(entries).__name__}")
        return PauseFile(tuple(_pause(e, f"pauses[{i}]") for i, e in enumerate(entries)))
    except ValueError as error:
        return malformed(str(error), at)


def render_pause_file(pauses: tuple[Pause, ...]) -> str:
    """The file's text for `pauses` (fail-safe pauses are never written)."""
    entries = [
        {
            "account": p.account,
            "market": p.market,
            "reason": p.reason,
            "actor": p.actor,
            "set_at": p.set_at.isoformat(),
            "until": p.until.isoformat() if p.until is not None else None,
        }
        for p in pauses
        if p.problem is None
    ]
    return json.dumps({"format": PAUSE_FORMAT, "pauses": entries}, indent=2) + "\n"


def without(
    pauses: tuple[Pause, ...], account: str | None, market: str | None, at: datetime
) -> tuple[tuple[Pause, ...], tuple[Pause, ...]]:
    """(kept, removed): resume removes the pauses of exactly that scope (none given: all) and
    drops the expired ones."""
    everything = account is None and market is None
    removed = tuple(
        p for p in pauses if everything or (p.account == account and p.market == market)
    )
    kept = tuple(p for p in pauses if p not in removed and p.is_active(at))
    return kept, removed
