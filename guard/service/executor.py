"""Carries out order plans exactly once: the intent (with the lock check) is committed before the
send, the position is re-read right before sending (clipped to it, skipped if gone), the egress
gate re-checks locks, breakers, staleness and sanity in the transaction that marks the order sent,
every outcome is recorded, and unknown outcomes are resolved by client id, never resent blind.
`Executor.send` is the only caller of `Gateway.create_order` in the service."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from guard.core.audit import AuditEvent, EventKind
from guard.core.domain import (
    ZERO,
    AccountSnapshot,
    GuardState,
    OrderPlan,
    OrderResult,
    OrderStatus,
)
from guard.core.gate import GateVerdict, LockSeen
from guard.core.rails import BreakerLimits
from guard.core.validity import snapshot_problems
from guard.core.venues.base import VenueRules, round_down
from guard.gateway.base import (
    Gateway,
    GatewayError,
    OrderRejected,
    TemporaryError,
    UnknownOrderOutcome,
    reread_position,
)
from guard.service.db_thread import DatabaseThread
from guard.service.order_events import RESULT_EVENT, override_event, result_event
from guard.service.unknown_outcomes import not_found_verdict
from guard.store import Store, StoredIntent
from guard.store.egress import SendCheck
from guard.store.lease_queries import Fence

# what covers (account, symbol) at a moment besides the lock rows: the operator's pause file
PauseCover = Callable[[str, str, datetime], tuple[LockSeen, ...]]

__all__ = ["RESULT_EVENT", "ExecutionReport", "Executor"]


@dataclass(frozen=True, slots=True)
class ExecutionReport:
    """What happened to the plans of one tick."""

    results: tuple[OrderResult, ...] = ()
    suppressed: tuple[tuple[OrderPlan, str], ...] = ()  # held at admission or at the gate
    duplicates: tuple[OrderPlan, ...] = ()
    would_place: tuple[OrderPlan, ...] = ()
    gate_holds: tuple[tuple[OrderPlan, str], ...] = ()  # held by the egress gate at send time

    @property
    def sent(self) -> int:
        return len(self.results)


class Executor:
    """Sends plans through one gateway, recording every step in the store."""

    def __init__(
        self,
        store: Store,
        gateway: Gateway,
        clock: Callable[[], datetime],
        *,
        dry_run: bool = False,
        actor: str = "guard",
        resend_window: timedelta = timedelta(minutes=5),
        fence: Fence | None = None,
        wall_clock: Callable[[], datetime] | None = None,
        staleness: timedelta | None = None,
        breakers: BreakerLimits | None = None,
        rules: VenueRules | None = None,
        db: DatabaseThread | None = None,
        pauses: PauseCover | None = None,
        verify: bool = False,
    ) -> None:
        self.store = store
        self.gateway = gateway
        self.clock = clock  # the account's clock (virtual for a paper account in replay)
        self.wall_clock = wall_clock or clock  # locks live on it, for every venue
        self.dry_run = dry_run
        self.actor = actor
        self.resend_window = resend_window
        self.fence = fence  # scale-out: intents are admitted only while this lease is held
        self.staleness = staleness
        self.breakers = breakers
        self.rules = rules
        self.db = db or DatabaseThread()  # every store call runs here, off the event loop
        self.pauses = pauses  # the operator's pause file, read at the moment of sending
        self.verify = verify  # look each client id up at the venue before sending it

    async def execute(
        self,
        account: str,
        plans: Sequence[OrderPlan],
        *,
        tick_id: str | None,
        fingerprint: str | None,
        state: GuardState | None,
        events: Sequence[AuditEvent] = (),
        override_locks: bool = False,
        restore: GuardState | None = None,
    ) -> ExecutionReport:
        """Admit the plans in one transaction (locks, duplicates, state, audit), then send each
        through the gate; `restore` is the rule memory a gate hold gives back to its market."""
        admission = await self.db.run(
            self.store.admit,
            account,
            plans,
            self.clock(),
            tick_id=tick_id,
            fingerprint=fingerprint,
            actor=self.actor,
            dry_run=self.dry_run,
            state=state,
            events=events,
            override_locks=override_locks,
            fence=self.fence,
            locks_at=self.wall_clock(),
        )
        if self.dry_run:
            return ExecutionReport(
                (), admission.suppressed, admission.duplicates, admission.admitted
            )
        results: list[OrderResult] = []
        held: list[tuple[OrderPlan, str]] = []
        for plan in admission.admitted:
            result = await self.send(
                plan,
                tick_id=tick_id,
                fingerprint=fingerprint,
                override_locks=override_locks,
                restore=restore,
            )
            if result.status is OrderStatus.SUPPRESSED:
                held.append((plan, result.message))
            else:
                results.append(result)
        return ExecutionReport(
            tuple(results),
            admission.suppressed + tuple(held),
            admission.duplicates,
            gate_holds=tuple(held),
        )

    async def _reread(
        self, plan: OrderPlan
    ) -> tuple[OrderPlan | None, str, AccountSnapshot | None]:
        """The plan clipped to the position as the venue reports it now, and that snapshot (the
        gateway re-reads only this market's position where it can, see `reread_position`).

        (None, why, _) when it must not be sent now: the position is gone or below one step
        (final: abandoned), or the venue could not be asked (left pending for reconciliation).
        """
        try:
            snapshot = await reread_position(self.gateway, plan.account, plan.symbol)
        except GatewayError as error:
            return None, f"position could not be re-read before sending: {error}", None
        position = snapshot.position(plan.key)
        if position is None or position.quantity <= ZERO:
            return None, "position gone before sending", snapshot
        quantity = min(plan.quantity, position.quantity)
        market = snapshot.markets.get(plan.symbol)
        if market is not None:
            quantity = round_down(quantity, market.amount_step)
        if quantity <= ZERO:
            return None, f"position {position.quantity} is below one step before sending", snapshot
        if quantity == plan.quantity:
            return plan, "", snapshot
        clipped = replace(plan, quantity=quantity)
        return clipped, f"clipped from {plan.quantity} to {quantity}", snapshot

    async def _pass_gate(
        self,
        plan: OrderPlan,
        snapshot: AccountSnapshot,
        tick_id: str | None,
        fingerprint: str | None,
        override_locks: bool,
        restore: GuardState | None,
    ) -> GateVerdict:
        """The egress gate: fresh locks, breakers, staleness and sanity, and the intent marked
        sent (or held, audited) in one transaction."""
        at = self.clock()
        position = snapshot.position(plan.key)
        data = snapshot.market_data.get(plan.symbol)
        mark = data.mark_price if data is not None else (position.mark_price if position else ZERO)
        check_at = self.wall_clock()
        check = SendCheck(
            at=at,
            locks_at=check_at,
            problems=snapshot_problems(snapshot),
            snapshot_age=at - snapshot.taken_at,
            max_age=self.staleness,
            notional=plan.quantity * mark,
            position_before=position.quantity if position is not None else ZERO,
            breakers=self.breakers,
            override_locks=override_locks,
            restore=restore,
            paused=self.pauses(plan.account, plan.symbol, check_at) if self.pauses else (),
        )

        def events_for(result: OrderResult, overridden: Sequence[LockSeen]) -> list[AuditEvent]:
            return [
                result_event(plan, result, tick_id, fingerprint, self.actor),
                *(override_event(plan, lock, tick_id, self.actor) for lock in overridden),
            ]

        return await self.db.run(self.store.pass_gate, plan, check, events_for)

    async def send(
        self,
        plan: OrderPlan,
        *,
        tick_id: str | None,
        fingerprint: str | None,
        override_locks: bool = False,
        restore: GuardState | None = None,
    ) -> OrderResult:
        """Re-read the position, pass the egress gate, send one admitted plan, record the
        outcome; never resends. A gate hold returns SUPPRESSED with its reason.

        A dry-run executor never reaches the venue on any path (a tick, a reconciliation):
        the plan is recorded as would-place instead."""
        if self.dry_run:
            would = OrderResult(
                plan.client_order_id, OrderStatus.WOULD_PLACE, message="dry-run: recorded, not sent"
            )
            await self._record(plan, would, tick_id, fingerprint)
            return would
        if self.verify or self.store.sends_unverified:  # the store may lag the venue
            known = await self._already_at_venue(plan, tick_id, fingerprint)
            if known is not None:
                return known
        current, why, snapshot = await self._reread(plan)
        if current is None or snapshot is None:
            if snapshot is None:
                await self._note(plan, f"not sent yet: {why}; reconciliation will retry", tick_id)
                return OrderResult(plan.client_order_id, OrderStatus.PENDING, message=why)
            abandoned = OrderResult(plan.client_order_id, OrderStatus.ABANDONED, message=why)
            await self._record(plan, abandoned, tick_id, fingerprint)
            return abandoned
        plan = current
        verdict = await self._pass_gate(
            plan, snapshot, tick_id, fingerprint, override_locks, restore
        )
        if not verdict.passes:
            return OrderResult(
                plan.client_order_id, OrderStatus.SUPPRESSED, message=verdict.held or ""
            )
        try:
            result = await self.gateway.create_order(plan)
        except OrderRejected as error:
            result = OrderResult(plan.client_order_id, OrderStatus.REJECTED, message=str(error))
        except (UnknownOrderOutcome, TemporaryError) as error:
            result = await self._look_up(plan, f"send outcome unknown ({error})")
        except GatewayError as error:
            result = OrderResult(plan.client_order_id, OrderStatus.REJECTED, message=str(error))
        if why and not result.message:
            result = replace(result, message=why)
        await self._record(plan, result, tick_id, fingerprint)
        return result

    async def _already_at_venue(
        self, plan: OrderPlan, tick_id: str | None, fingerprint: str | None
    ) -> OrderResult | None:
        """After a start without the database (or a lease takeover) the rule memory may lag what
        was sent, so a plan's client id (deterministic) may be at the venue: look it up first. Found: its outcome is
        recorded and nothing is sent; the venue not answering: left pending (retried)."""
        try:
            found = await self.gateway.fetch_order(plan.account, plan.symbol, plan.client_order_id)
        except GatewayError as error:
            why = f"client id not verified at the venue before sending: {error}"
            await self._note(plan, f"not sent yet: {why}; reconciliation will retry", tick_id)
            return OrderResult(plan.client_order_id, OrderStatus.PENDING, message=why)
        if found is None:
            return None
        found = replace(
            found,
            message=found.message or "already at the venue before sending: not sent again",
        )
        await self._record(plan, found, tick_id, fingerprint)
        return found

    async def _note(self, plan: OrderPlan, message: str, tick_id: str | None) -> None:
        await self.db.run(
            self.store.audit,
            [
                AuditEvent(
                    EventKind.ERROR,
                    message,
                    account=plan.account,
                    symbol=plan.symbol,
                    tick_id=tick_id,
                    actor=self.actor,
                    client_order_id=plan.client_order_id,
                )
            ],
            self.clock(),
        )

    async def _look_up(self, plan: OrderPlan, why: str) -> OrderResult:
        try:
            found = await self.gateway.fetch_order(plan.account, plan.symbol, plan.client_order_id)
        except GatewayError as error:
            return OrderResult(
                plan.client_order_id, OrderStatus.UNKNOWN, message=f"{why}; lookup failed: {error}"
            )
        if found is None:
            return OrderResult(
                plan.client_order_id, OrderStatus.UNKNOWN, message=f"{why}; not found yet"
            )
        return found

    async def _record(
        self, plan: OrderPlan, result: OrderResult, tick_id: str | None, fingerprint: str | None
    ) -> None:
        event = result_event(plan, result, tick_id, fingerprint, self.actor)
        await self.db.run(self.store.update_intent, result, self.clock(), [event])

    async def reconcile(
        self,
        intents: Sequence[StoredIntent],
        plans_by_id: dict[str, OrderPlan],
        *,
        resend: bool = True,
        positions_now: Mapping[str, Decimal] | None = None,
    ) -> list[OrderResult]:
        """Resolve unfinished intents by client id (before the first tick, and during ticks).

        Found at the venue: record what the venue says (only when it changed). Not found:
        - never handed to the venue (pending) and younger than the resend window: sent once now
          through the gate (same client id, clipped by the caller to the current position);
        - handed to the venue (sent, unknown): resent only when that cannot reduce twice — the
          venue rejects a reused client id, or the position (`positions_now`, by client id) is
          exactly what it was just before the send; otherwise left unknown, and a human is told
          what to check (`resend` off: only looked up);
        - older than the resend window: abandoned with a reason.
        """
        results: list[OrderResult] = []
        now = self.clock()
        for intent in intents:
            plan = plans_by_id[intent.client_order_id]
            try:
                found = await self.gateway.fetch_order(
                    intent.account, intent.symbol, intent.client_order_id
                )
            except GatewayError as error:
                results.append(
                    OrderResult(
                        intent.client_order_id, intent.status, message=f"lookup failed: {error}"
                    )
                )
                continue
            if found is not None:
                changed = (found.status, found.filled_quantity) != (
                    intent.status,
                    intent.filled_quantity,
                )
                if changed:
                    await self._record(plan, found, None, None)
                results.append(found)
                continue
            results.append(await self._not_found(intent, plan, now, resend, positions_now or {}))
        return results

    async def _not_found(
        self,
        intent: StoredIntent,
        plan: OrderPlan,
        now: datetime,
        resend: bool,
        positions_now: Mapping[str, Decimal],
    ) -> OrderResult:
        verdict = not_found_verdict(
            intent, plan, now, self.resend_window, resend, self.rules, positions_now
        )
        if verdict.resend:
            return await self.send(replace(plan), tick_id=None, fingerprint=None)
        if verdict.record and intent.message != verdict.result.message:
            await self._record(plan, verdict.result, None, None)
        return verdict.result
