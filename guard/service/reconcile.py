"""Resolution of unfinished order intents by client id: at each tick (never resending what the
venue may have seen) and at start-up (`reconcile`, every account). A part of GuardService (I/O:
the venue and the store)."""

from __future__ import annotations

from guard.core.domain import ZERO, OrderPlan, OrderStatus
from guard.gateway.base import GatewayError
from guard.service.runtime import AccountRuntime
from guard.service.service_base import ServiceBase


class Reconciliation(ServiceBase):
    """GuardService's resolution of unfinished intents (see guard.service.tick)."""

    __slots__ = ()

    async def resolve(self, runtime: AccountRuntime, *, startup: bool = False) -> int:
        """Resolve the account's unfinished intents by client id; returns how many were looked at.

        At start-up an order the venue never saw is sent once (young) or abandoned (old). During
        ticks only intents that were never handed to the venue (pending) are sent; a sent or
        unknown one is only looked up, never resent by a tick. The position is re-read once so
        a send is clipped to what is still open. Raises GatewayError when the venue is down.
        """
        intents = self.store.unresolved_intents(runtime.name)
        if not intents:
            return 0
        snapshot = await runtime.gateway.fetch_snapshot(runtime.name)
        plans: dict[str, OrderPlan] = {}
        for intent in intents:
            position = snapshot.position(intent.key)
            remaining = intent.quantity - intent.filled_quantity
            quantity = ZERO if position is None else min(remaining, position.quantity)
            plans[intent.client_order_id] = intent.as_plan(max(quantity, ZERO))
        executor = self.executor(runtime)
        if startup:
            await executor.reconcile(intents, plans)
        else:
            unsent = [i for i in intents if i.status is OrderStatus.PENDING]
            handed = [i for i in intents if i.status is not OrderStatus.PENDING]
            await executor.reconcile(handed, plans, resend=False)
            await executor.reconcile(unsent, plans)
        return len(intents)

    async def reconcile(self) -> int:
        """Resolve every unfinished intent of every account before the first tick."""
        resolved = 0
        for runtime in self.accounts.values():
            try:
                resolved += await self.resolve(runtime, startup=True)
            except GatewayError as error:  # unreachable: tried again at the account's ticks
                self._error(
                    runtime.name,
                    f"{runtime.name}@reconcile",
                    runtime.policies.fingerprint,
                    f"start-up reconciliation failed: {error}",
                    self.now_of(runtime),
                )
        return resolved
