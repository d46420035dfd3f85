"""The rules' remembered state per account (episodes, peaks, counters) with the reductions in
flight: read, and saved inside the caller's transaction (Core statements; database I/O)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, bindparam, insert, update

from guard.core.domain import GuardState
from guard.store.audit_chain import AuditChain
from guard.store.codec import state_to_json, to_jsonable
from guard.store.database import Connectable
from guard.store.tables import StateRow, table_of

_STATE = table_of(StateRow)
_UPDATE_STATE = update(_STATE).where(_STATE.c.account == bindparam("key"))


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
            values["summary"] = json.dumps(to_jsonable(summary), sort_keys=True)
        if tick_id is not None:
            values["last_tick_id"] = tick_id
            values["last_tick_at"] = at
        updated = conn.execute(_UPDATE_STATE.values(values), {"key": account})
        if cast(CursorResult[Any], updated).rowcount == 0:
            values.setdefault("summary", "{}")
            conn.execute(insert(_STATE).values(account=account, **values))
