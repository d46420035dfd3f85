"""The rules' remembered state per account (episodes, peaks, counters) with the reductions in
flight, and the tick record: state, summary and audit rows in one transaction, fenced."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlmodel import Session, col, select

from guard.core.audit import AuditEvent
from guard.core.domain import ZERO, GuardState, PositionKey, Side
from guard.store.audit_chain import AuditChain
from guard.store.codec import state_from_json, state_to_json, to_jsonable
from guard.store.intent_records import NOT_FINAL
from guard.store.lease_queries import Fence, check_fence
from guard.store.tables import AccountRow, IntentRow, StateRow


class RuleState(AuditChain):
    """Rule state and tick records of the Store."""

    def load_state(self, account: str) -> GuardState:
        """The account's remembered state with the reductions now in flight."""
        with self.reading() as session:
            row = session.get(StateRow, account)
            state = state_from_json(row.state) if row is not None else GuardState()
            flights = self._in_flight(session, account)
        return state.with_in_flight(flights)

    def _in_flight(self, session: Session, account: str) -> dict[PositionKey, Decimal]:
        rows = session.exec(
            select(IntentRow).where(
                IntentRow.account == account,
                col(IntentRow.status).in_(NOT_FINAL),
                IntentRow.dry_run == False,  # noqa: E712
            )
        ).all()
        flights: dict[PositionKey, Decimal] = {}
        for row in rows:
            key = PositionKey(row.symbol, Side(row.position_side))
            flights[key] = flights.get(key, ZERO) + row.quantity - row.filled_quantity
        return flights

    def _save_state(
        self,
        session: Session,
        account: str,
        state: GuardState,
        at: datetime,
        tick_id: str | None,
        summary: dict[str, Any] | None,
    ) -> None:
        row = session.get(StateRow, account)
        encoded = state_to_json(state)
        summary_text = json.dumps(to_jsonable(summary or {}), sort_keys=True)
        if row is None:
            row = StateRow(account=account, state=encoded, updated_at=at, summary=summary_text)
        else:
            row.state = encoded
            row.updated_at = at
            if summary is not None:
                row.summary = summary_text
        if tick_id is not None:
            row.last_tick_id = tick_id
            row.last_tick_at = at
        session.add(row)

    def record_tick(
        self,
        account: str,
        tick_id: str,
        at: datetime,
        state: GuardState,
        summary: dict[str, Any],
        events: Sequence[AuditEvent],
        fence: Fence | None = None,
    ) -> None:
        """Save the next state, the tick summary and the tick's audit rows in one transaction.

        With a `fence` (scale-out), LeaseLost is raised and nothing is written unless this
        replica still holds the account's lease with that token."""
        with self.transaction() as session:
            if fence is not None:
                self._serialize(session, account)
                check_fence(session, account, fence)
            self._save_state(session, account, state, at, tick_id, summary)
            seen = session.get(AccountRow, account)
            if seen is not None:
                seen.last_seen_at = at
                session.add(seen)
            self.append(session, events, at)
