"""The paper venue driven by wall time (`guard run` on paper accounts): saved atomically to its
state file after each change, with injectable outages and frozen prices. Not pure: clock, files."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from guard.core.domain import (
    AccountSnapshot,
    OrderPlan,
    OrderResult,
)
from guard.core.funding_ledger import FundingPayment
from guard.gateway.base import TemporaryError
from guard.gateway.paper.state import paper_state
from guard.gateway.paper.venue import PaperVenue


class WallClockPaper:
    """A paper venue driven by wall time: virtual time = where it was + elapsed wall × speed.

    It persists the venue (and every client id it received) to `state_file` after each change,
    atomically, so a killed process resumes the same book; `outage` and `frozen` inject faults
    (every call fails; prices and time stop, so snapshots go stale)."""

    venue = "paper"

    def __init__(
        self,
        inner: PaperVenue,
        *,
        speed: Decimal,
        end: datetime,
        origin: datetime,
        state_file: Path | None = None,
        latency: timedelta = timedelta(0),
        wall: Callable[[], float] = time.monotonic,
        received: Sequence[str] = (),
    ) -> None:
        self.inner = inner
        self.rules = inner.rules
        self.speed = speed
        self.end = end
        self.origin = origin
        self.state_file = state_file
        self.latency = latency.total_seconds()
        self.wall = wall
        self.received: list[str] = list(received)
        self.outage = False
        self.frozen = False
        self._anchor_virtual = inner.now
        self._anchor_wall = wall()

    def now(self) -> datetime:
        """The virtual time now (never past the scenario's end, never before the venue's now)."""
        if self.frozen:
            return self._virtual()
        return max(self.inner.now, self._virtual())

    def _virtual(self) -> datetime:
        elapsed = Decimal(repr(self.wall() - self._anchor_wall)) * self.speed
        moment = self._anchor_virtual + timedelta(seconds=float(elapsed))
        return min(moment, self.end)

    @property
    def ended(self) -> bool:
        return self.inner.now >= self.end

    def _check(self, what: str) -> None:
        if self.outage:
            raise TemporaryError(f"paper: venue unreachable ({what} during an injected outage)")

    def save(self) -> None:
        if self.state_file is None:
            return
        data = {
            "origin": self.origin.isoformat(),
            "venue": paper_state(self.inner),
            "received": self.received,
        }
        temporary = self.state_file.with_name(self.state_file.name + ".tmp")
        temporary.write_text(json.dumps(data), encoding="utf-8")
        os.replace(temporary, self.state_file)

    async def fetch_snapshot(self, account: str) -> AccountSnapshot:
        self._check("fetch_snapshot")
        if self.frozen:
            return await self.inner.fetch_snapshot(account)
        return self.inner.settled_snapshot(self.now(), account, then=self.save)

    async def create_order(self, plan: OrderPlan) -> OrderResult:
        self._check("create_order")
        await asyncio.sleep(self.latency / 2)
        self.received.append(plan.client_order_id)
        try:
            result = await self.inner.create_order(plan)
        finally:
            self.save()
        await asyncio.sleep(self.latency / 2)
        return result

    async def fetch_order(
        self, account: str, symbol: str, client_order_id: str
    ) -> OrderResult | None:
        self._check("fetch_order")
        return await self.inner.fetch_order(account, symbol, client_order_id)

    async def fetch_open_orders(self, account: str) -> list[OrderResult]:
        self._check("fetch_open_orders")
        return await self.inner.fetch_open_orders(account)

    async def cancel_order(self, account: str, symbol: str, client_order_id: str) -> OrderResult:
        self._check("cancel_order")
        return await self.inner.cancel_order(account, symbol, client_order_id)

    async def fetch_funding_history(self, account: str, since: datetime) -> list[FundingPayment]:
        """The paper ledger's settlements up to the venue's current virtual time."""
        self._check("fetch_funding_history")
        return await self.inner.fetch_funding_history(account, since)

    async def close(self) -> None:
        self.save()


def load_paper_file(path: Path) -> dict[str, Any] | None:
    """The saved state of a WallClockPaper, or None when there is none yet."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    data: dict[str, Any] = json.loads(text)
    return data
