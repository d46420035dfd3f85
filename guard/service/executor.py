"""Carries out order plans exactly once: the intent (with the lock check) is committed before the
send, the position is re-read right before sending (clipped to it, skipped if gone), every outcome
is recorded, and unknown outcomes are resolved by client id, never resent blind."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from guard.core.audit import AuditEvent, EventKind
from guard.core.domain import ZERO, GuardState, OrderPlan, OrderResult, OrderStatus
from guard.core.venues.base import round_down
from guard.gateway.base import (
    Gateway,
    GatewayError,
    OrderRejected,
    TemporaryError,
    UnknownOrderOutcome,
)
from guard.store import Store, StoredIntent
from guard.store.intent_records import plan_payload
from guard.store.lease_queries import Fence

RESULT_EVENT = {
    OrderStatus.SENT: EventKind.ORDER_SENT,
    OrderStatus.ACKNOWLEDGED: EventKind.ORDER_ACKNOWLEDGED,
    OrderStatus.FILLED: EventKind.ORDER_FILLED,
    OrderStatus.PARTIALLY_FILLED: EventKind.ORDER_PARTIALLY_FILLED,
    OrderStatus.REJECTED: EventKind.ORDER_REJECTED,
    OrderStatus.UNKNOWN: EventKind.ORDER_UNKNOWN,
    OrderStatus.ABANDONED: EventKind.ORDER_REJECTED,
    OrderStatus.WOULD_PLACE: EventKind.ORDER_WOULD_PLACE,
}


@dataclass(frozen=True, slots=True)
class ExecutionReport:
    """What happened to the plans of one tick."""

    results: tuple[OrderResult, ...] = ()
    suppressed: tuple[tuple[OrderPlan, str], ...] = ()
    duplicates: tuple[OrderPlan, ...] = ()
    would_place: tuple[OrderPlan, ...] = ()

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
    ) -> None:
        self.store = store
        self.gateway = gateway
        self.clock = clock
        self.dry_run = dry_run
        self.actor = actor
        self.resend_window = resend_window
        self.fence = fence  # scale-out: intents are admitted only while this lease is held

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
    ) -> ExecutionReport:
        """Admit the plans in one transaction (locks, duplicates, state, audit), then send."""
        admission = self.store.admit(
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
        )
        if self.dry_run:
            return ExecutionReport(
                (), admission.suppressed, admission.duplicates, admission.admitted
            )
        results = []
        for plan in admission.admitted:
            results.append(await self.send(plan, tick_id=tick_id, fingerprint=fingerprint))
        return ExecutionReport(tuple(results), admission.suppressed, admission.duplicates)

    async def _reread(self, plan: OrderPlan) -> tuple[OrderPlan | None, str]:
        """The plan clipped to the position as the venue reports it now.

        (None, why) when it must not be sent now: the position is gone or below one step
        (final: abandoned), or the venue could not be asked (left pending for reconciliation).
        """
        try:
            snapshot = await self.gateway.fetch_snapshot(plan.account)
        except GatewayError as error:
            return None, f"position could not be re-read before sending: {error}"
        position = snapshot.position(plan.key)
        if position is None or position.quantity <= ZERO:
            return None, "position gone before sending"
        quantity = min(plan.quantity, position.quantity)
        market = snapshot.markets.get(plan.symbol)
        if market is not None:
            quantity = round_down(quantity, market.amount_step)
        if quantity <= ZERO:
            return None, f"position {position.quantity} is below one step before sending"
        if quantity == plan.quantity:
            return plan, ""
        return replace(plan, quantity=quantity), f"clipped from {plan.quantity} to {quantity}"

    async def send(
        self, plan: OrderPlan, *, tick_id: str | None, fingerprint: str | None
    ) -> OrderResult:
        """Re-read the position, send one admitted plan, record the outcome; never resends.

        A dry-run executor never reaches the venue on any path (a tick, a reconciliation):
        the plan is recorded as would-place instead."""
        if self.dry_run:
            would = OrderResult(
                plan.client_order_id, OrderStatus.WOULD_PLACE, message="dry-run: recorded, not sent"
            )
            self._record(plan, would, tick_id, fingerprint)
            return would
        current, why = await self._reread(plan)
        if current is None:
            if why.startswith("position could not be re-read"):
                self._note(plan, f"not sent yet: {why}; reconciliation will retry", tick_id)
                return OrderResult(plan.client_order_id, OrderStatus.PENDING, message=why)
            abandoned = OrderResult(plan.client_order_id, OrderStatus.ABANDONED, message=why)
            self._record(plan, abandoned, tick_id, fingerprint)
            return abandoned
        plan = current
        self._record(
            plan, OrderResult(plan.client_order_id, OrderStatus.SENT), tick_id, fingerprint
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
        self._record(plan, result, tick_id, fingerprint)
        return result

    def _note(self, plan: OrderPlan, message: str, tick_id: str | None) -> None:
        self.store.audit(
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

    def _record(
        self, plan: OrderPlan, result: OrderResult, tick_id: str | None, fingerprint: str | None
    ) -> None:
        kind = RESULT_EVENT.get(result.status, EventKind.ORDER_UNKNOWN)
        detail = f" at {result.average_price}" if result.average_price is not None else ""
        message = (
            f"{result.status.value}: reduce-only {plan.side.value} {plan.quantity} {plan.symbol}"
            f" (filled {result.filled_quantity}{detail})"
        )
        if result.message:
            message += f" — {result.message}"
        event = AuditEvent(
            kind=kind,
            message=message,
            account=plan.account,
            symbol=plan.symbol,
            rule_id=",".join(plan.rule_ids) or None,
            tick_id=tick_id,
            fingerprint=fingerprint,
            actor=self.actor,
            client_order_id=plan.client_order_id,
            payload={
                **plan_payload(plan),
                "status": result.status.value,
                "filled_quantity": result.filled_quantity,
                "average_price": result.average_price,
                "fee": result.fee,
                "venue_order_id": result.venue_order_id,
            },
        )
        self.store.update_intent(result, self.clock(), [event])

    async def reconcile(
        self,
        intents: Sequence[StoredIntent],
        plans_by_id: dict[str, OrderPlan],
        *,
        resend: bool = True,
    ) -> list[OrderResult]:
        """Resolve unfinished intents by client id (before the first tick, and during ticks).

        Found at the venue: record what the venue says (only when it changed). Not found, with
        `resend`: the order never arrived, so it is sent once now (same client id, clipped by the
        caller to the current position) if it is younger than the resend window; otherwise it is
        abandoned with a reason. Without `resend`, a missing order is left for the next look-up.
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
                    self._record(plan, found, None, None)
                results.append(found)
                continue
            if not resend:
                results.append(
                    OrderResult(intent.client_order_id, intent.status, message="not found yet")
                )
                continue
            if now - intent.created_at > self.resend_window or plan.quantity <= ZERO:
                why = (
                    "never reached the venue and is older than the resend window"
                    if plan.quantity > ZERO
                    else "never reached the venue and the position is gone"
                )
                abandoned = OrderResult(intent.client_order_id, OrderStatus.ABANDONED, message=why)
                self._record(plan, abandoned, None, None)
                results.append(abandoned)
                continue
            results.append(await self.send(replace(plan), tick_id=None, fingerprint=None))
        return results
