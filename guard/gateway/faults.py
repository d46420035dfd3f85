"""Fault and latency injection around any gateway, for the reliability suite and benchmarks.

Faults are scripted per call (deterministic), never random: a `FaultPlan` maps a method name to a
queue of faults consumed one per call; calls with an empty queue pass through."""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from enum import StrEnum

from guard.core.domain import AccountSnapshot, OrderPlan, OrderResult, OrderStatus
from guard.gateway.base import (
    Gateway,
    OrderRejected,
    PermanentError,
    TemporaryError,
    UnknownOrderOutcome,
)


class Fault(StrEnum):
    """One scripted misbehaviour of the venue or the network."""

    TIMEOUT = "timeout"  # the call times out before the venue saw it
    TIMEOUT_AFTER_ACCEPT = (
        "timeout_after_accept"  # the venue accepted the order, the answer is lost
    )
    RESET_AFTER_ACCEPT = "reset_after_accept"  # connection reset after the venue accepted
    RATE_LIMITED = "rate_limited"  # HTTP 429
    SERVER_ERROR = "server_error"  # HTTP 5xx
    AUTH = "auth"  # credentials refused
    REDUCE_ONLY_REJECTED = "reduce_only_rejected"  # e.g. the position is already gone
    PARTIAL_FILL = "partial_fill"  # half fills, the rest is cancelled (IOC)
    STALE = "stale"  # the snapshot is older than it should be
    CONTRADICTORY = "contradictory"  # the snapshot contradicts itself (negative size)


@dataclass(slots=True)
class FaultPlan:
    """Faults to inject, per gateway method, consumed in order."""

    queues: dict[str, deque[Fault]] = field(default_factory=dict)

    def add(self, method: str, faults: Iterable[Fault]) -> FaultPlan:
        self.queues.setdefault(method, deque()).extend(faults)
        return self

    def next(self, method: str) -> Fault | None:
        queue = self.queues.get(method)
        return queue.popleft() if queue else None


@dataclass(slots=True)
class FaultyGateway:
    """Wraps a gateway: adds `latency` seconds to every call and injects scripted faults."""

    inner: Gateway
    plan: FaultPlan = field(default_factory=FaultPlan)
    latency: float = 0.0
    stale_by_seconds: int = 3600
    calls: Counter[str] = field(default_factory=Counter)

    @property
    def venue(self) -> str:
        return self.inner.venue

    async def _enter(self, method: str) -> Fault | None:
        self.calls[method] += 1
        if self.latency:
            await asyncio.sleep(self.latency)
        fault = self.plan.next(method)
        if fault is Fault.TIMEOUT and method != "create_order":
            raise TemporaryError(f"{self.venue}: {method} timed out")
        if fault is Fault.RATE_LIMITED:
            raise TemporaryError(f"{self.venue}: {method} rate limited (HTTP 429)")
        if fault is Fault.SERVER_ERROR:
            raise TemporaryError(f"{self.venue}: {method} failed with HTTP 502")
        if fault is Fault.AUTH:
            raise PermanentError(f"{self.venue}: {method} refused: invalid API key")
        return fault

    async def fetch_snapshot(self, account: str) -> AccountSnapshot:
        fault = await self._enter("fetch_snapshot")
        snapshot = await self.inner.fetch_snapshot(account)
        if fault is Fault.STALE:
            return replace(
                snapshot, taken_at=snapshot.taken_at - timedelta(seconds=self.stale_by_seconds)
            )
        if fault is Fault.CONTRADICTORY and snapshot.positions:
            first = replace(snapshot.positions[0], quantity=-snapshot.positions[0].quantity)
            return replace(snapshot, positions=(first, *snapshot.positions[1:]))
        return snapshot

    async def create_order(self, plan: OrderPlan) -> OrderResult:
        fault = await self._enter("create_order")
        if fault is Fault.TIMEOUT:
            raise UnknownOrderOutcome(f"{self.venue}: create_order timed out (not received)")
        if fault is Fault.REDUCE_ONLY_REJECTED:
            raise OrderRejected(
                f"{self.venue}: ReduceOnly Order is rejected (position already gone)"
            )
        if fault is Fault.PARTIAL_FILL:
            half = plan.quantity / 2
            result = await self.inner.create_order(replace(plan, quantity=half))
            return replace(
                result,
                client_order_id=plan.client_order_id,
                status=OrderStatus.PARTIALLY_FILLED,
                filled_quantity=result.filled_quantity,
                message="IOC: half filled, rest cancelled",
            )
        result = await self.inner.create_order(plan)
        if fault is Fault.TIMEOUT_AFTER_ACCEPT:
            raise UnknownOrderOutcome(
                f"{self.venue}: create_order timed out after the venue accepted it"
            )
        if fault is Fault.RESET_AFTER_ACCEPT:
            raise TemporaryError(f"{self.venue}: connection reset after sending create_order")
        return result

    async def fetch_order(
        self, account: str, symbol: str, client_order_id: str
    ) -> OrderResult | None:
        await self._enter("fetch_order")
        return await self.inner.fetch_order(account, symbol, client_order_id)

    async def fetch_open_orders(self, account: str) -> list[OrderResult]:
        await self._enter("fetch_open_orders")
        return await self.inner.fetch_open_orders(account)

    async def cancel_order(self, account: str, symbol: str, client_order_id: str) -> OrderResult:
        await self._enter("cancel_order")
        return await self.inner.cancel_order(account, symbol, client_order_id)

    async def close(self) -> None:
        await self.inner.close()
