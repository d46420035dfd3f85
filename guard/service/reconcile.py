"""Resolution of unfinished order intents by client id: at each tick (never resending what the
venue may have seen) and at start-up (`reconcile`, every account). A part of GuardService (I/O:
the venue and the store)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from guard.core.domain import ZERO, AccountSnapshot, OrderPlan, OrderResult, OrderStatus
from guard.gateway.base import GatewayError
from guard.service.alerts import Alerts
from guard.service.notify import AlertKind
from guard.service.runtime import AccountRuntime
from guard.store import StoredIntent


class Reconciliation(Alerts):
    """GuardService's resolution of unfinished intents (see guard.service.tick)."""

    __slots__ = ()

    async def resolve(
        self,
        runtime: AccountRuntime,
        intents: Sequence[StoredIntent] | None = None,
        snapshot: AccountSnapshot | None = None,
        *,
        startup: bool = False,
    ) -> int:
        """Resolve the account's unfinished intents by client id; returns how many were looked at.

        Every send goes through the egress gate. During ticks only intents that were never handed
        to the venue (pending) are sent; a sent or unknown one is only looked up. At start-up a
        handed-over order the venue does not know is resent only where that cannot reduce twice
        (guard.service.unknown_outcomes). The position is re-read once so a send is clipped to
        what is still open. The tick passes the intents and the snapshot it has just read; without
        them they are read here. Raises GatewayError when the venue is down.
        """
        if intents is None:
            intents = await self.db.run(self.store.unresolved_intents, runtime.name)
        if not intents:
            return 0
        if snapshot is None:
            snapshot = await runtime.gateway.fetch_snapshot(runtime.name)
        plans: dict[str, OrderPlan] = {}
        positions: dict[str, Decimal] = {}
        for intent in intents:
            position = snapshot.position(intent.key)
            remaining = intent.quantity - intent.filled_quantity
            quantity = ZERO if position is None else min(remaining, position.quantity)
            plans[intent.client_order_id] = intent.as_plan(max(quantity, ZERO))
            positions[intent.client_order_id] = ZERO if position is None else position.quantity
        executor = self.executor(runtime)
        if startup:
            results = await executor.reconcile(intents, plans, positions_now=positions)
        else:
            unsent = [i for i in intents if i.status is OrderStatus.PENDING]
            handed = [i for i in intents if i.status is not OrderStatus.PENDING]
            results = await executor.reconcile(handed, plans, resend=False)
            results += await executor.reconcile(unsent, plans, positions_now=positions)
        await self._alert_outcomes(runtime, results)
        return len(intents)

    async def _alert_outcomes(
        self, runtime: AccountRuntime, results: Sequence[OrderResult]
    ) -> None:
        """A human hears of every order the gate held back, and of every order whose outcome
        stays unknown or that was given up, with what to check."""
        for result in results:
            kind = {
                OrderStatus.SUPPRESSED: AlertKind.SANITY,
                OrderStatus.ABANDONED: AlertKind.ORDER,
            }.get(result.status)
            if result.status is OrderStatus.UNKNOWN and "check the venue" in result.message:
                kind = AlertKind.ORDER
            if kind is not None and result.message:
                await self._alert(
                    kind,
                    f"{result.client_order_id}:{result.status.value}",
                    f"{runtime.name} order {result.status.value}",
                    result.message,
                    runtime.name,
                )

    async def reconcile(self) -> int:
        """Resolve every unfinished intent of every account before the first tick."""
        resolved = 0
        for runtime in self.accounts.values():
            try:
                resolved += await self.resolve(runtime, startup=True)
            except GatewayError as error:  # unreachable: tried again at the account's ticks
                await self._error(
                    runtime.name,
                    f"{runtime.name}@reconcile",
                    runtime.policies.fingerprint,
                    f"start-up reconciliation failed: {error}",
                    self.now_of(runtime),
                )
        return resolved
