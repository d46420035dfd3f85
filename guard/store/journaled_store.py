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
from pathlib import Path
from typing import Any

from guard.core.audit import AuditEvent
from guard.core.domain import ZERO, GuardState, OrderPlan, OrderResult, OrderStatus
from guard.core.gate import GateRail, GateVerdict
from guard.store.codec import state_to_json, to_jsonable
from guard.store.egress import EventsFor, SendCheck
from guard.store.intent_records import NOT_FINAL, Admission, StoredIntent, intent_event
from guard.store.journal_codec import event_data, plan_data, result_data
from guard.store.journal_gate import offline_verdict
from guard.store.journal_reads import DatabaseDown, JournalReads
from guard.store.lease_queries import Fence
from guard.store.locks import lock_description
from guard.store.records import AccountInfo
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


class JournaledStore(JournalReads):
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
        pool_size: int = 5,
    ) -> None:
        super().__init__(
            url,
            journal,
            probe_interval=probe_interval,
            monotonic=monotonic,
            write_timeout=write_timeout,
            pool_size=pool_size,
        )

    # ----- writes ---------------------------------------------------------------------------
    def register_accounts(self, accounts: Sequence[AccountInfo], at: datetime) -> None:
        """Registered now, or (database down) once it answers, before the journal's flush."""
        ok, _ = self._attempt(lambda: Store.register_accounts(self, accounts, at))
        if not ok:
            with self._serial:
                self._up = False
                self._before_flush.append(lambda: Store.register_accounts(self, accounts, at))

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
        with self._memory:
            self._states[account] = state
            self._touch(account)
        ok, _ = self._attempt(
            lambda: Store.record_tick(self, account, tick_id, at, state, summary, events, fence)
        )
        if ok:
            self._note_known()
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
        if ok and admission.admitted:
            self._note_known(now=True)  # a step fired: its memory is on disk before the send
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
        with self._memory:
            self._touch(account)
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
        with self._memory:
            locks = sorted(
                (lock for lock in self._locks or () if lock.is_active(locks_at)),
                key=lambda lock: lock.id,
            )
            known_ids = {p.client_order_id for p in plans} & self._known_ids
        for plan in plans:
            if plan.client_order_id in known_ids:
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
        since = check.at - check.breakers.window if check.breakers is not None else check.at
        totals = self.window_totals(since)
        with self._memory:  # the locks and this intent as last known, one consistent view
            known = self._open.get(plan.client_order_id)
            locks = list(self._locks or ())
        verdict = offline_verdict(plan, check, locks, totals, known)
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

        with self._memory:
            if result.status is OrderStatus.SUPPRESSED:  # held, never sent: admitted later, same id
                self._known_ids.discard(result.client_order_id)  # (as the database's admit does)
            known = self._open.pop(result.client_order_id, None)
            if known is not None:
                self._touch(known.account)
                if result.status.value in NOT_FINAL:
                    self._open[result.client_order_id] = updated(known)
            self._journaled_intents = [
                updated(i) if i.client_order_id == result.client_order_id else i
                for i in self._journaled_intents
            ]


__all__ = ["DatabaseDown", "JournaledStore"]
