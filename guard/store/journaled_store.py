"""The Store the service uses: each write of a tick goes to the database, or to the outage
journal while it is down; reads then fall back to what this process last read or wrote.

Trade-offs (see docs/reliability.md): during an outage the lock check uses the last locks read
before it, operator flatten requests are not picked up, and audit events reach the database (and
the hash chain) at flush time, in journal order, with their original timestamps.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from guard.core.audit import AuditEvent
from guard.core.domain import ZERO, GuardState, OrderPlan, OrderResult, OrderStatus, PositionKey
from guard.core.gate import GateRail, GateVerdict
from guard.store.codec import state_to_json, to_jsonable
from guard.store.egress import EventsFor, SendCheck
from guard.store.intent_records import NOT_FINAL, Admission, StoredIntent, intent_event
from guard.store.journal_codec import event_data, plan_data, result_data
from guard.store.journal_flush import JournalFlush
from guard.store.journal_gate import offline_verdict
from guard.store.lease_queries import Fence
from guard.store.locks import lock_description
from guard.store.records import StoredLock, StoredRequest
from guard.store.store import Store


def _open_intent(
    plan: OrderPlan, status: OrderStatus, at: datetime, dry_run: bool, why: str
) -> StoredIntent:
    return StoredIntent(
        client_order_id=plan.client_order_id,
        account=plan.account,
        symbol=plan.symbol,
        side=plan.side.value,
        position_side=plan.position_side,
        quantity=plan.quantity,
        status=status,
        filled_quantity=ZERO,
        average_price=None,
        reason=plan.reason,
        rule_ids=plan.rule_ids,
        dry_run=dry_run,
        created_at=at,
        updated_at=at,
        message=why,
        margin_mode=plan.margin_mode,
        order_type=plan.order_type,
        limit_price=plan.limit_price,
        hedged=plan.hedged,
        steps=plan.steps,
    )


class JournaledStore(JournalFlush):
    """A Store that journals the service's writes locally while the database is unreachable.

    Only the calls a tick makes are covered (intents, outcomes, tick state, audit, and the reads
    of locks, state, unresolved intents, requests and the breaker window); operator commands and
    housekeeping keep using the database directly and fail while it is down.
    """

    def __init__(
        self,
        url: str,
        journal: Path,
        *,
        probe_interval: float = 2.0,
        monotonic: Callable[[], float] = time.monotonic,
        write_timeout: float = 30.0,
    ) -> None:
        super().__init__(
            url,
            journal,
            probe_interval=probe_interval,
            monotonic=monotonic,
            write_timeout=write_timeout,
        )
        self._locks: list[StoredLock] | None = None  # every lock at the last read
        self._states: dict[str, GuardState] = {}
        self._open: dict[str, StoredIntent] = {}  # unresolved intents, by client id
        self._known_ids: set[str] = set()  # client ids this process has seen admitted
        self._window: dict[str, tuple[int, Decimal]] = {}  # breaker totals at the last read

    # ----- writes ---------------------------------------------------------------------------
    def audit(self, events: Sequence[AuditEvent], at: datetime) -> list[int]:
        ok, ids = self._attempt(lambda: Store.audit(self, events, at))
        if ok:
            return ids or []
        if events:
            self._journal("audit", at, {"events": [event_data(e) for e in events]})
        return []

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
        self._states[account] = state
        ok, _ = self._attempt(
            lambda: Store.record_tick(self, account, tick_id, at, state, summary, events, fence)
        )
        if ok:
            return
        self._journal(
            "record_tick",
            at,
            {
                "account": account,
                "tick_id": tick_id,
                "state": state_to_json(state),
                "summary": to_jsonable(summary),
                "events": [event_data(e) for e in events],
            },
        )

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
        ok, admission = self._attempt(
            lambda: Store.admit(
                self,
                account,
                plans,
                at,
                tick_id=tick_id,
                fingerprint=fingerprint,
                actor=actor,
                dry_run=dry_run,
                state=state,
                events=events,
                override_locks=override_locks,
                fence=fence,
                locks_at=locks_at,
            )
        )
        if admission is None:
            admission = self._admit_locally(
                account,
                plans,
                at,
                tick_id,
                fingerprint,
                actor,
                dry_run,
                state,
                events,
                override_locks,
                locks_at or at,
            )
        self._remember_admission(account, admission, at, dry_run, state, journaled=not ok)
        return admission

    def _remember_admission(
        self,
        account: str,
        admission: Admission,
        at: datetime,
        dry_run: bool,
        state: GuardState | None,
        *,
        journaled: bool,
    ) -> None:
        if state is not None:
            self._states[account] = state
        if dry_run:  # a dry-run record never blocks a live plan with the same client id
            return
        for plan in admission.admitted:  # a suppressed plan may be admitted later, same id
            self._known_ids.add(plan.client_order_id)
        for plan in admission.admitted:
            intent = _open_intent(plan, OrderStatus.PENDING, at, dry_run, "")
            self._open[plan.client_order_id] = intent
            if journaled:
                self._journaled_intents.append(intent)

    def _admit_locally(
        self,
        account: str,
        plans: Sequence[OrderPlan],
        at: datetime,
        tick_id: str | None,
        fingerprint: str | None,
        actor: str,
        dry_run: bool,
        state: GuardState | None,
        events: Sequence[AuditEvent],
        override_locks: bool,
        locks_at: datetime,
    ) -> Admission:
        """The admission decided from what this process knows (the last locks it read, the
        client ids it has seen), journaled for the flush."""
        admitted: list[OrderPlan] = []
        suppressed: list[tuple[OrderPlan, str]] = []
        duplicates: list[OrderPlan] = []
        audit: list[AuditEvent] = list(events)
        intents: list[dict[str, Any]] = []
        locks = sorted(
            (lock for lock in self._locks or () if lock.is_active(locks_at)),
            key=lambda lock: lock.id,
        )
        for plan in plans:
            if plan.client_order_id in self._known_ids:
                duplicates.append(plan)
                continue
            lock = next((lock for lock in locks if lock.covers(account, plan.symbol)), None)
            held = lock is not None and not override_locks
            status = (
                OrderStatus.SUPPRESSED
                if held
                else (OrderStatus.WOULD_PLACE if dry_run else OrderStatus.PENDING)
            )
            why = ""
            if held and lock is not None:
                why = (
                    f"held back by {lock_description(lock)} "
                    "[as last read before the database outage]"
                )
                suppressed.append((plan, why))
            else:
                admitted.append(plan)
            intents.append({"plan": plan_data(plan), "status": status.value, "why": why})
            audit.append(intent_event(plan, status, why, tick_id, fingerprint, actor))
        self._journal(
            "admit",
            at,
            {
                "account": account,
                "tick_id": tick_id,
                "actor": actor,
                "dry_run": dry_run,
                "state": None if state is None else state_to_json(state),
                "intents": intents,
                "events": [event_data(e) for e in audit],
            },
        )
        return Admission(tuple(admitted), tuple(suppressed), tuple(duplicates))

    def update_intent(
        self, result: OrderResult, at: datetime, events: Sequence[AuditEvent] = ()
    ) -> None:
        self._remember_result(result, at)
        ok, _ = self._attempt(lambda: Store.update_intent(self, result, at, events))
        if ok:
            return
        self._journal(
            "update_intent",
            at,
            {"result": result_data(result), "events": [event_data(e) for e in events]},
        )

    def pass_gate(self, plan: OrderPlan, check: SendCheck, events_for: EventsFor) -> GateVerdict:
        """The egress gate on the database; while it is down, decided from the locks and the
        breaker window as last read (and this process's own intents since), journaled."""
        ok, verdict = self._attempt(lambda: Store.pass_gate(self, plan, check, events_for))
        if ok and verdict is not None:
            self._remember_result(self._gate_result(plan, verdict), check.at)
            return verdict
        known = self._open.get(plan.client_order_id)
        since = check.at - check.breakers.window if check.breakers is not None else check.at
        verdict = offline_verdict(plan, check, self._locks or (), self.window_totals(since), known)
        if verdict.rail is GateRail.FINAL:
            return verdict
        result = self._gate_result(plan, verdict)
        self._journal(  # raises when not durable: then nothing is sent, the intent stays pending
            "update_intent",
            check.at,
            {
                "result": result_data(result),
                "events": [event_data(e) for e in events_for(result, verdict.overridden)],
            },
        )
        self._remember_result(result, check.at)
        return verdict

    @staticmethod
    def _gate_result(plan: OrderPlan, verdict: GateVerdict) -> OrderResult:
        if verdict.passes:
            return OrderResult(plan.client_order_id, OrderStatus.SENT)
        return OrderResult(plan.client_order_id, OrderStatus.SUPPRESSED, message=verdict.held or "")

    def _remember_result(self, result: OrderResult, at: datetime) -> None:
        def updated(intent: StoredIntent) -> StoredIntent:
            return replace(
                intent,
                status=result.status,
                filled_quantity=result.filled_quantity,
                average_price=result.average_price,
                message=result.message,
                updated_at=at,
            )

        if result.status is OrderStatus.SUPPRESSED:  # held, never sent: re-admitted later, same id
            self._known_ids.discard(result.client_order_id)  # (as the database's admit does)
        known = self._open.pop(result.client_order_id, None)
        if known is not None and result.status.value in NOT_FINAL:
            self._open[result.client_order_id] = updated(known)
        self._journaled_intents = [
            updated(i) if i.client_order_id == result.client_order_id else i
            for i in self._journaled_intents
        ]

    # ----- reads ----------------------------------------------------------------------------
    def locks(self, at: datetime, *, include_inactive: bool = False) -> list[StoredLock]:
        """Locks from the database; while it is down, the locks as last read (an operator can
        not set or clear one then anyway)."""
        _, found = self._attempt(lambda: Store.locks(self, at, include_inactive=True))
        if found is not None:
            self._locks = found
        elif self._locks is None:
            raise DatabaseDown(self.problem or "database unreachable and no lock read before")
        every = list(self._locks)
        return every if include_inactive else [lock for lock in every if lock.is_active(at)]

    def load_state(self, account: str) -> GuardState:
        """The account's state; while down, the last state read or written by this process with
        the reductions this process knows to be in flight."""
        _, state = self._attempt(lambda: Store.load_state(self, account))
        if state is not None:
            self._states[account] = state
            return state
        base = self._states.get(account, GuardState())
        return base.with_in_flight(self._flights(account))

    def _flights(self, account: str) -> dict[PositionKey, Decimal]:
        flights: dict[PositionKey, Decimal] = {}
        for intent in self._open.values():
            if intent.account == account and not intent.dry_run:
                flights[intent.key] = (
                    flights.get(intent.key, ZERO) + intent.quantity - intent.filled_quantity
                )
        return flights

    def unresolved_intents(self, account: str | None = None) -> list[StoredIntent]:
        _, found = self._attempt(lambda: Store.unresolved_intents(self, account))
        if found is not None:
            for client_id in [
                c for c, i in self._open.items() if account is None or i.account == account
            ]:
                del self._open[client_id]
            for intent in found:
                self._open[intent.client_order_id] = intent
                self._known_ids.add(intent.client_order_id)
            return found
        return sorted(
            (i for i in self._open.values() if account is None or i.account == account),
            key=lambda i: i.created_at,
        )

    def pending_requests(self, account: str | None = None) -> list[StoredRequest]:
        """While the database is down no operator request can be read: none are returned (the
        runner's housekeeping flags them again once it is back)."""
        _, found = self._attempt(lambda: Store.pending_requests(self, account))
        return found if found is not None else []

    def window_totals(self, since: datetime) -> dict[str, tuple[int, Decimal]]:
        """Breaker window totals; while down, the last totals read plus this process's own
        intents admitted since (counted whatever their outcome, so never under-counted)."""
        _, found = self._attempt(lambda: Store.window_totals(self, since))
        if found is not None:
            self._window = dict(found)
            return found
        totals = dict(self._window)
        for intent in self._journaled_intents:
            if intent.created_at < since:
                continue
            count, notional = totals.get(intent.account, (0, ZERO))
            if intent.average_price is not None and intent.filled_quantity > ZERO:
                amount = intent.filled_quantity * intent.average_price
            else:
                amount = intent.quantity * (intent.limit_price or ZERO)
            totals[intent.account] = (count + 1, notional + amount)
        return totals


class DatabaseDown(Exception):
    """The database is unreachable and nothing was read from it before to fall back on."""
