"""The rules' remembered state per account (episodes, peaks, counters) with the reductions in
flight: read, and saved inside the caller's transaction (Core statements; database I/O)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, bindparam, insert, update
from sqlalchemy.engine import Connection

from guard.core.domain import GuardState
from guard.store.audit_chain import AuditChain
from guard.store.codec import json_text, state_to_json
from guard.store.database import Connectable
from guard.store.prepared import Prepared
from guard.store.tables import StateRow, table_of

_STATE = table_of(StateRow)
_UPDATE_STATE = update(_STATE).where(_STATE.c.account == bindparam("key"))
_COLUMNS = ("state", "updated_at", "summary", "last_tick_id", "last_tick_at")
# the tick's save writes every column: one statement, compiled once
_SAVE_TICK = Prepared(
    _UPDATE_STATE.values({name: bindparam(name, type_=_STATE.c[name].type) for name in _COLUMNS})
)


class RuleState(AuditChain):
    """Rule state of the Store (read with the tick: guard.store.tick_io)."""

    def _save_state(
        self,
        conn: Connectable,
        account: str,
        state: GuardState,
        at: datetime,
        tick_id: str | None,
        summary: dict[str, Any] | None,
    ) -> None:
        """Write the account's state row inside the caller's transaction (insert when new); a
        `tick_id` also sets the last tick, a `summary` the status summary."""
        values: dict[str, Any] = {"state": state_to_json(state), "updated_at": at}
        if summary is not None:
            values["summary"] = json_text(summary)  # str keys only: see tick_events.summary
        if tick_id is not None:
            values["last_tick_id"] = tick_id
            values["last_tick_at"] = at
        if len(values) == len(_COLUMNS) and isinstance(conn, Connection):
            updated = _SAVE_TICK.count(conn, {"key": account, **values})
        else:
            result = conn.execute(_UPDATE_STATE.values(values), {"key": account})
            updated = cast(CursorResult[Any], result).rowcount
        if updated == 0:
            values.setdefault("summary", "{}")
            conn.execute(insert(_STATE).values(account=account, **values))
