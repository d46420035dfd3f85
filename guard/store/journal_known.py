"""What the journaled store last read from the database, kept in a file beside the journal so that
the service can start and protect while the database is unreachable (file I/O, no database).

The file (`<journal>.known.json`, written whole by an atomic rename, each state encoded again
only when its account's state object changed since the last save) holds the locks as last read,
each account's rule memory, the breaker window totals, the unresolved intents and the markets each
account listed. A start without the database rebuilds its knowledge from this file and then
replays the journal's pending entries on top (intents admitted, outcomes, rule memory). The file
may lag the database by up to KNOWN_EVERY seconds: a start from it therefore looks every client id
up at the venue before sending it (the ids are deterministic), so an order already sent is found,
never sent twice.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from guard.core.domain import ZERO, GuardState, OrderStatus
from guard.store.codec import state_from_json, state_to_json
from guard.store.intent_records import NOT_FINAL, StoredIntent
from guard.store.journal_codec import plan_data, plan_from, result_from
from guard.store.journal_lines import Entry
from guard.store.records import LockScope, StoredLock

FORMAT = 1
KNOWN_EVERY = 1.0  # seconds: the file is rewritten at most this often while the database answers


@dataclass
class Known:
    """The journaled store's knowledge of the database (what a start without it begins from)."""

    locks: list[StoredLock] = field(default_factory=list)
    states: dict[str, GuardState] = field(default_factory=dict)
    window: dict[str, tuple[int, Decimal]] = field(default_factory=dict)
    open: dict[str, StoredIntent] = field(default_factory=dict)
    markets: dict[str, list[str]] = field(default_factory=dict)
    saved_at: datetime | None = None


def known_path(journal: Path) -> Path:
    return journal.with_name(journal.name + ".known.json")


def save_known(
    path: Path, known: Known, at: datetime, encoded: dict[str, tuple[GuardState, str]] | None = None
) -> None:
    """Write the file whole (temporary file, fsync, rename); an OSError is the caller's.
    `encoded`: the caller's cache of each account's state as last encoded here (the same state
    object is not encoded again: between two saves most accounts did not tick), kept up to date
    for the next save."""
    cache: dict[str, tuple[GuardState, str]] = {} if encoded is None else encoded
    states: dict[str, str] = {}
    for name, state in sorted(known.states.items()):
        cached = cache.get(name)
        if cached is None or cached[0] is not state:
            cached = cache[name] = (state, state_to_json(state))
        states[name] = cached[1]
    for gone in cache.keys() - known.states.keys():
        del cache[gone]
    data = {
        "format": FORMAT,
        "saved_at": at.isoformat(),
        "locks": [_lock_data(lock) for lock in known.locks],
        "states": states,
        "window": {name: [c, str(n)] for name, (c, n) in sorted(known.window.items())},
        "open": [_intent_data(i) for i in known.open.values()],
        "markets": {name: sorted(m) for name, m in sorted(known.markets.items())},
    }
    fresh = path.with_name(path.name + ".new")
    with fresh.open("w", encoding="utf-8") as handle:
        handle.write(json.dumps(data, sort_keys=True))  # one C encoding, not json.dump's chunks
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(fresh, path)


def load_known(path: Path) -> Known | None:
    """The file's knowledge, or None when there is no usable file (missing, unreadable, other
    format): then nothing is known and a start without the database is refused."""
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return None
    try:
        opened = [_intent_from(item) for item in data["open"]]
        return Known(
            locks=[_lock_from(item) for item in data["locks"]],
            states={name: state_from_json(text) for name, text in data["states"].items()},
            window={name: (int(c), Decimal(n)) for name, (c, n) in data["window"].items()},
            open={i.client_order_id: i for i in opened},
            markets={name: list(m) for name, m in data.get("markets", {}).items()},
            saved_at=datetime.fromisoformat(data["saved_at"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def replay(known: Known, entries: Sequence[Entry]) -> list[StoredIntent]:
    """Apply the journal's pending entries to `known` in order (rule memory, intents admitted and
    their outcomes); returns the intents they admitted (the breaker window counts them)."""
    admitted: list[StoredIntent] = []
    for entry in entries:
        data = entry.data
        if entry.op in ("admit", "record_tick") and data.get("state") is not None:
            known.states[data["account"]] = state_from_json(data["state"])
        if entry.op == "admit" and not data.get("dry_run"):
            for item in data["intents"]:
                if item["status"] != OrderStatus.PENDING.value:
                    continue
                plan = plan_from(item["plan"])
                intent = StoredIntent(
                    plan.client_order_id, plan.account, plan.symbol, plan.side.value,
                    plan.position_side, plan.quantity, OrderStatus.PENDING, ZERO, None,
                    plan.reason, plan.rule_ids, False, entry.at, entry.at, "",
                    plan.margin_mode, plan.order_type, plan.limit_price, plan.hedged, plan.steps,
                )  # fmt: skip
                known.open[plan.client_order_id] = intent
                admitted.append(intent)
        elif entry.op == "update_intent":
            result = result_from(data["result"])
            before = known.open.pop(result.client_order_id, None)
            if before is not None and result.status.value in NOT_FINAL:
                known.open[result.client_order_id] = replace(
                    before,
                    status=result.status,
                    filled_quantity=result.filled_quantity,
                    average_price=result.average_price,
                    message=result.message,
                    updated_at=entry.at,
                )
            admitted = [
                replace(
                    i, filled_quantity=result.filled_quantity, average_price=result.average_price
                )
                if i.client_order_id == result.client_order_id
                else i
                for i in admitted
            ]
    return admitted


def _lock_data(lock: StoredLock) -> dict[str, Any]:
    return {
        "id": lock.id,
        "scope": lock.scope.value,
        "account": lock.account,
        "market": lock.market,
        "reason": lock.reason,
        "actor": lock.actor,
        "created_at": lock.created_at.isoformat(),
        "expires_at": _time(lock.expires_at),
        "cleared_at": _time(lock.cleared_at),
        "cleared_by": lock.cleared_by,
        "clear_reason": lock.clear_reason,
    }


def _lock_from(data: Mapping[str, Any]) -> StoredLock:
    return StoredLock(
        int(data["id"]),
        LockScope(data["scope"]),
        data["account"],
        data["market"],
        data["reason"],
        data["actor"],
        datetime.fromisoformat(data["created_at"]),
        _parsed(data["expires_at"]),
        _parsed(data["cleared_at"]),
        data["cleared_by"],
        data["clear_reason"],
    )


def _intent_data(intent: StoredIntent) -> dict[str, Any]:
    return {
        "plan": plan_data(intent.as_plan(intent.quantity)),
        "status": intent.status.value,
        "filled_quantity": str(intent.filled_quantity),
        "average_price": None if intent.average_price is None else str(intent.average_price),
        "dry_run": intent.dry_run,
        "created_at": intent.created_at.isoformat(),
        "updated_at": intent.updated_at.isoformat(),
        "message": intent.message,
        "position_before": None if intent.position_before is None else str(intent.position_before),
    }


def _intent_from(data: Mapping[str, Any]) -> StoredIntent:
    plan = plan_from(data["plan"])
    before = data.get("position_before")
    return StoredIntent(
        plan.client_order_id, plan.account, plan.symbol, plan.side.value, plan.position_side,
        plan.quantity, OrderStatus(data["status"]), Decimal(data["filled_quantity"]),
        None if data["average_price"] is None else Decimal(data["average_price"]),
        plan.reason, plan.rule_ids, bool(data["dry_run"]),
        datetime.fromisoformat(data["created_at"]), datetime.fromisoformat(data["updated_at"]),
        data["message"], plan.margin_mode, plan.order_type, plan.limit_price, plan.hedged,
        plan.steps, None if before is None else Decimal(before),
    )  # fmt: skip


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parsed(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)
