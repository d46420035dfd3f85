"""The egress gate's transaction: just before a send, re-read the locks covering the account and
market and the breaker window, decide (guard.core.gate), and mark the intent sent or held in the
same transaction; a hold restores the market's rule memory so its step can fire again later."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlmodel import Session, col, select

from guard.core.audit import AuditEvent
from guard.core.domain import ZERO, GuardState, OrderPlan, OrderResult, OrderStatus
from guard.core.gate import GateInputs, GateRail, GateVerdict, LockSeen, gate_verdict
from guard.core.rails import BreakerLimits, WindowTotals
from guard.core.step_memory import keep_steps
from guard.store.codec import state_from_json
from guard.store.intent_records import COUNTED
from guard.store.intents import Intents
from guard.store.locks import covering_all, lock_description
from guard.store.tables import IntentRow, StateRow

EventsFor = Callable[[OrderResult, Sequence[LockSeen]], list[AuditEvent]]


@dataclass(frozen=True, slots=True)
class SendCheck:
    """What the gate is told by the executor; the rest it reads itself."""

    at: datetime  # the account's clock: the intent's timestamps and the breaker window
    locks_at: datetime  # the wall clock: locks live on it, for every venue
    problems: tuple[str, ...]  # snapshot_problems of the position re-read just now
    snapshot_age: timedelta
    max_age: timedelta | None
    notional: Decimal
    position_before: Decimal  # the position size re-read just now (the proof for resends)
    breakers: BreakerLimits | None
    override_locks: bool = False  # a human's flatten passes locks (audited as overriding)
    restore: GuardState | None = None  # rule memory before this tick, restored on a hold
    paused: tuple[LockSeen, ...] = ()  # the operator's pauses covering it (act as locks)


class Egress(Intents):
    """The Store's egress gate (one transaction per send)."""

    def pass_gate(self, plan: OrderPlan, check: SendCheck, events_for: EventsFor) -> GateVerdict:
        """Decide with fresh rows and mark the intent SENT (pass) or SUPPRESSED (hold), audited
        by `events_for(result, overridden_locks)` in the same transaction."""
        with self.transaction() as session:
            self._serialize(session, plan.account)
            row = session.get(IntentRow, plan.client_order_id)
            if row is None:
                raise KeyError(f"no order intent with client id {plan.client_order_id}")
            status = OrderStatus(row.status)
            verdict = gate_verdict(
                GateInputs(
                    account=plan.account,
                    symbol=plan.symbol,
                    final_status=status.value if status.is_final else None,
                    problems=check.problems,
                    snapshot_age=check.snapshot_age,
                    max_age=check.max_age,
                    covering_locks=tuple(
                        LockSeen(lock.id or 0, lock_description(lock))
                        for lock in covering_all(
                            self._active_locks(session, plan.account, check.locks_at), plan.symbol
                        )
                    )
                    + check.paused,
                    override_locks=check.override_locks,
                    notional=check.notional,
                    account_window=self._gate_window(session, check, plan, plan.account),
                    global_window=self._gate_window(session, check, plan, None),
                    breakers=check.breakers,
                    automatic=not check.override_locks,
                )
            )
            if verdict.rail is GateRail.FINAL:
                return verdict  # nothing to write: the intent keeps its final outcome
            result = (
                OrderResult(plan.client_order_id, OrderStatus.SENT)
                if verdict.passes
                else OrderResult(
                    plan.client_order_id, OrderStatus.SUPPRESSED, message=verdict.held or ""
                )
            )
            row.status = result.status.value
            row.message = result.message
            if verdict.passes:
                row.position_before = check.position_before
            row.updated_at = check.at
            session.add(row)
            if not verdict.passes and check.restore is not None:
                self._restore_market_memory(session, plan, check.restore, check.at)
            self.append(session, events_for(result, verdict.overridden), check.at)
        return verdict

    def _gate_window(
        self, session: Session, check: SendCheck, plan: OrderPlan, account: str | None
    ) -> WindowTotals:
        """Orders counted in the breaker window (this one apart), for one account or all."""
        if check.breakers is None:
            return WindowTotals()
        query = select(IntentRow).where(
            col(IntentRow.created_at) >= check.at - check.breakers.window,
            col(IntentRow.status).in_(COUNTED),
            IntentRow.dry_run == False,  # noqa: E712
            IntentRow.client_order_id != plan.client_order_id,
        )
        if account is not None:
            query = query.where(IntentRow.account == account)
        totals = WindowTotals()
        for row in session.exec(query).all():
            if row.average_price is not None and row.filled_quantity > ZERO:
                notional = row.filled_quantity * row.average_price
            else:
                notional = row.quantity * (row.limit_price or ZERO)
            totals = totals.plus(1, notional)
        return totals

    def _restore_market_memory(
        self, session: Session, plan: OrderPlan, previous: GuardState, at: datetime
    ) -> None:
        row = session.get(StateRow, plan.account)
        if row is None:
            return
        current = state_from_json(row.state)
        self._save_state(
            session, plan.account, keep_steps(current, previous, {plan.symbol}), at, None, None
        )
