"""Order intents in the database: admission (lock check, duplicate check, intent rows, state
and audit in one transaction, fenced), outcomes, reads and the breaker window totals."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from sqlmodel import col, select

from guard.core.audit import AuditEvent
from guard.core.domain import ZERO, GuardState, OrderPlan, OrderResult, OrderStatus
from guard.store.intent_records import (
    COUNTED,
    NOT_FINAL,
    Admission,
    StoredIntent,
    intent_event,
    intent_row,
    stored_intent,
)
from guard.store.lease_queries import Fence, check_fence
from guard.store.locks import Locks, covering, lock_description
from guard.store.rule_state import RuleState
from guard.store.tables import IntentRow


class Intents(Locks, RuleState):
    """Order intents of the Store; admission reads the locks and saves the rule state."""

    def admit(
        self,
        account: str,
        plans: Sequence[OrderPlan],
        at: datetime,
        *,
        tick_id: str | None,
        fingerprint: str | None,
        actor: str,
        dry_run: bool,
        state: GuardState | None,
        events: Sequence[AuditEvent] = (),
        override_locks: bool = False,
        fence: Fence | None = None,
        locks_at: datetime | None = None,
    ) -> Admission:
        """One transaction: check locks, skip known client ids, write intents, save state, audit.

        An active lock covering the account or market suppresses the plan (audited, naming the
        lock) unless `override_locks` (a human's flatten). A plan whose client id is already
        known is a duplicate and is never admitted again — unless that intent was suppressed
        (never sent), in which case it is re-admitted under the same client id. With a `fence`
        (scale-out), LeaseLost is raised and nothing is written unless this replica still holds
        the account's lease with that token. Locks are judged at `locks_at` (the wall clock;
        `at` when not given). A dry-run record never blocks a live plan with the same client id:
        dry-run and live keep separate step memories.
        """
        admitted: list[OrderPlan] = []
        suppressed: list[tuple[OrderPlan, str]] = []
        duplicates: list[OrderPlan] = []
        audit: list[AuditEvent] = list(events)
        with self.transaction() as session:
            self._serialize(session, account)
            if fence is not None:
                check_fence(session, account, fence)
            locks = self._active_locks(session, account, locks_at or at)
            for plan in plans:
                known = session.get(IntentRow, plan.client_order_id)
                replaceable = known is not None and (
                    known.status == OrderStatus.SUPPRESSED.value or (known.dry_run and not dry_run)
                )
                if known is not None and not replaceable:
                    duplicates.append(plan)
                    continue
                if known is not None:
                    # held back earlier and never sent, or only recorded by dry-run: it may go
                    # now under the same client id (the earlier record stays in the audit log)
                    session.delete(known)
                    session.flush()
                lock = covering(locks, plan.symbol)
                held = lock is not None and not override_locks
                status = (
                    OrderStatus.SUPPRESSED
                    if held
                    else (OrderStatus.WOULD_PLACE if dry_run else OrderStatus.PENDING)
                )
                why = f"held back by {lock_description(lock)}" if held and lock is not None else ""
                session.add(intent_row(plan, status, at, tick_id, actor, dry_run, why))
                audit.append(intent_event(plan, status, why, tick_id, fingerprint, actor))
                if held:
                    suppressed.append((plan, why))
                else:
                    admitted.append(plan)
            if state is not None:
                self._save_state(session, account, state, at, None, None)
            self.append(session, audit, at)
        return Admission(tuple(admitted), tuple(suppressed), tuple(duplicates))

    def update_intent(
        self, result: OrderResult, at: datetime, events: Sequence[AuditEvent] = ()
    ) -> None:
        with self.transaction() as session:
            row = session.get(IntentRow, result.client_order_id)
            if row is None:
                raise KeyError(f"no order intent with client id {result.client_order_id}")
            row.status = result.status.value
            row.filled_quantity = result.filled_quantity
            row.average_price = result.average_price
            row.fee = result.fee
            row.venue_order_id = result.venue_order_id or row.venue_order_id
            row.message = result.message
            row.updated_at = at
            session.add(row)
            self.append(session, events, at)

    def intents(
        self, account: str | None = None, statuses: Sequence[str] | None = None
    ) -> list[StoredIntent]:
        with self.reading() as session:
            query = select(IntentRow)
            if account is not None:
                query = query.where(IntentRow.account == account)
            if statuses is not None:
                query = query.where(col(IntentRow.status).in_(list(statuses)))
            rows = session.exec(query.order_by(col(IntentRow.created_at))).all()
            return [stored_intent(row) for row in rows]

    def unresolved_intents(self, account: str | None = None) -> list[StoredIntent]:
        """Intents whose outcome is not final (pending, sent, acknowledged, unknown), not dry-run."""
        return [i for i in self.intents(account, NOT_FINAL) if not i.dry_run]

    def window_totals(self, since: datetime) -> dict[str, tuple[int, Decimal]]:
        """Per account: orders the guard sent (or is sending) since `since`, and their notional
        (filled quantity at the average price, else quantity at the worst acceptable price); for
        the breakers."""
        totals: dict[str, tuple[int, Decimal]] = {}
        with self.reading() as session:
            rows = session.exec(
                select(IntentRow).where(
                    col(IntentRow.created_at) >= since,
                    col(IntentRow.status).in_(COUNTED),
                    IntentRow.dry_run == False,  # noqa: E712
                )
            ).all()
        for row in rows:
            if row.average_price is not None and row.filled_quantity > ZERO:
                notional = row.filled_quantity * row.average_price
            else:
                notional = row.quantity * (row.limit_price or ZERO)
            count, total = totals.get(row.account, (0, ZERO))
            totals[row.account] = (count + 1, total + notional)
        return totals
