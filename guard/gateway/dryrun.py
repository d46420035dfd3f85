"""Dry-run gateway: wraps any gateway; reads pass through, writes are recorded and never sent."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from guard.core.domain import AccountSnapshot, OrderPlan, OrderResult, OrderStatus
from guard.core.funding_ledger import FundingPayment
from guard.gateway.base import Gateway, funding_history


@dataclass(slots=True)
class DryRunGateway:
    """Everything the inner gateway does, except that no write ever reaches it."""

    inner: Gateway
    recorded: list[OrderPlan] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)

    @property
    def venue(self) -> str:
        return self.inner.venue

    async def fetch_snapshot(self, account: str) -> AccountSnapshot:
        return await self.inner.fetch_snapshot(account)

    async def create_order(self, plan: OrderPlan) -> OrderResult:
        self.recorded.append(plan)
        return OrderResult(
            plan.client_order_id, OrderStatus.WOULD_PLACE, message="dry-run: recorded, not sent"
        )

    async def fetch_order(
        self, account: str, symbol: str, client_order_id: str
    ) -> OrderResult | None:
        for plan in self.recorded:
            if plan.client_order_id == client_order_id:
                return OrderResult(client_order_id, OrderStatus.WOULD_PLACE)
        return await self.inner.fetch_order(account, symbol, client_order_id)

    async def fetch_open_orders(self, account: str) -> list[OrderResult]:
        return await self.inner.fetch_open_orders(account)

    async def cancel_order(self, account: str, symbol: str, client_order_id: str) -> OrderResult:
        self.cancelled.append(client_order_id)
        return OrderResult(
            client_order_id, OrderStatus.WOULD_PLACE, message="dry-run: cancel not sent"
        )

    async def fetch_funding_history(self, account: str, since: datetime) -> list[FundingPayment]:
        """A read: passed through (FundingHistoryUnavailable when the inner gateway has none)."""
        return await funding_history(self.inner, account, since)

    async def close(self) -> None:
        await self.inner.close()
