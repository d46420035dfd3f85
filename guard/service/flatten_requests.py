"""The operator's flatten requests, carried out at a tick: plan a reduce-only flatten from the
fresh snapshot, execute it past any lock, and complete the request with its outcome. A part of
GuardService (I/O: store, venue); an invalid request is completed as failed, never executed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from guard.core.domain import AccountSnapshot, OrderStatus
from guard.core.flatten import flatten_decision
from guard.core.planner import plan
from guard.core.validity import snapshot_problems
from guard.service.alerts import Alerts
from guard.service.runtime import AccountRuntime
from guard.store import StoredRequest


class FlattenRequests(Alerts):
    """GuardService's operator requests (see guard.service.tick)."""

    __slots__ = ()

    async def _flatten_requests(
        self,
        runtime: AccountRuntime,
        snapshot: AccountSnapshot,
        requests: Sequence[StoredRequest],
        tick_id: str,
        now: datetime,
    ) -> bool:
        """Carry out the pending flatten `requests` (overriding locks) on the account's next tick
        after the request; True when any was handled. A snapshot unfit to act on flattens
        nothing."""
        if snapshot_problems(snapshot):
            return False
        for request in requests:
            await self._flatten(runtime, snapshot, request, tick_id, now)
        return bool(requests)

    async def _flatten(
        self,
        runtime: AccountRuntime,
        snapshot: AccountSnapshot,
        request: StoredRequest,
        tick_id: str,
        now: datetime,
    ) -> None:
        try:
            decision = flatten_decision(
                snapshot,
                request.market,
                request.fraction,
                request.reason,
                request.actor,
                request.id,
            )
        except ValueError as error:
            await self.db.run(
                self.store.complete_request,
                request.id,
                f"invalid: {error}",
                now,
                failed=True,
                tick_id=tick_id,
            )
            return
        planned = plan(decision, snapshot, runtime.rules)
        if not planned.orders:
            skipped = "; ".join(s.reason for s in planned.skipped)
            outcome = "nothing to reduce" + (f" ({skipped})" if skipped else "")
            await self.db.run(
                self.store.complete_request, request.id, outcome, now, tick_id=tick_id
            )
            return
        execution = await self.executor(runtime, actor=request.actor).execute(
            runtime.name,
            planned.orders,
            tick_id=tick_id,
            fingerprint=runtime.policies.fingerprint,
            state=None,
            override_locks=True,
        )
        await self._after_execution(runtime, planned.orders, execution)
        if execution.would_place:
            outcome = f"dry-run: would place {len(execution.would_place)} order(s)"
            failed = False
        else:
            statuses = [r.status.value for r in execution.results]
            duplicates = len(execution.duplicates)
            outcome = f"{len(statuses)} order(s): {', '.join(statuses) or 'none sent'}" + (
                f"; {duplicates} already sent before" if duplicates else ""
            )
            failed = (
                not any(
                    r.status in (OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED)
                    for r in execution.results
                )
                and not duplicates
            )
        await self.db.run(
            self.store.complete_request,
            request.id,
            outcome,
            self.now_of(runtime),
            failed=failed,
            tick_id=tick_id,
        )
