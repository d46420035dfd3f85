"""The paper venue's execution model for replays: fill after a latency at the next observed price,
with market impact that grows with size and recent volatility and decays over time (memory across
slices); deterministic, no I/O. Money is Decimal; the volatility estimate is a float ratio only."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from guard.core.domain import ZERO
from guard.gateway.paper.path import PricePath

VOLATILITY_WINDOW = timedelta(hours=1)
VOLATILITY_STEP = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class ExecutionModel:
    """How a replay fills market orders (all off by default: the paper venue's old behaviour).

    * `latency`: the order fills at the path's price this long after it was sent (the next
      observed price), not at the price the guard saw.
    * `impact_half_life`: the impact of earlier fills in the same symbol decays with this
      half-life; until it has, later slices pay for it too (None: no memory).
    * `volatility_reference`: the one-minute volatility at which impact is as configured; above
      it impact scales with realised volatility over the last hour (None: no scaling).
    """

    latency: timedelta = timedelta(0)
    impact_half_life: timedelta | None = None
    volatility_reference: Decimal | None = None
    volatility_cap: Decimal = Decimal(5)  # impact grows at most this many times with volatility
    impact_per_notional: Decimal | None = None  # None: the paper venue's slippage model's


NO_LATENCY = ExecutionModel()
"""Fill at once at the mark with per-order impact only (the paper venue's behaviour)."""

REPLAY_EXECUTION = ExecutionModel(
    latency=timedelta(seconds=2),
    impact_half_life=timedelta(minutes=10),
    volatility_reference=Decimal("0.002"),
    impact_per_notional=Decimal("0.00000001"),
)
"""The replay's default: 2 s latency; impact 0.1 % per 100,000 of notional (earlier fills
included, decaying with a 10 min half-life), ×(σ₁ₘ ÷ 0.2 %) above 0.2 % one-minute volatility, at
most ×5."""


@dataclass(slots=True)
class ImpactMemory:
    """Notional recently traded per symbol (decaying), which later fills pay impact on too."""

    model: ExecutionModel
    recent: dict[str, tuple[datetime, Decimal]] = field(default_factory=dict)

    def residual(self, symbol: str, now: datetime) -> Decimal:
        """Notional still weighing on the book at `now`."""
        if self.model.impact_half_life is None or symbol not in self.recent:
            return ZERO
        at, notional = self.recent[symbol]
        half_lives = (now - at) / self.model.impact_half_life
        return notional * Decimal(str(round(0.5**half_lives, 9)))

    def record(self, symbol: str, now: datetime, notional: Decimal) -> None:
        if self.model.impact_half_life is not None:
            self.recent[symbol] = (now, self.residual(symbol, now) + notional)


def volatility_scale(
    path: PricePath, symbol: str, now: datetime, reference: Decimal, cap: Decimal = Decimal(5)
) -> Decimal:
    """max(1, realised one-minute volatility over the last hour ÷ `reference`), at most `cap`."""
    returns: list[float] = []
    moment = now - VOLATILITY_WINDOW
    previous = float(path.price(symbol, moment))
    while moment < now:
        moment += VOLATILITY_STEP
        price = float(path.price(symbol, moment))
        if previous > 0 and price > 0:
            returns.append(math.log(price / previous))
        previous = price
    if len(returns) < 2:
        return Decimal(1)
    mean = sum(returns) / len(returns)
    sigma = math.sqrt(sum((r - mean) ** 2 for r in returns) / (len(returns) - 1))
    return min(cap, max(Decimal(1), Decimal(str(round(sigma, 9))) / reference))
