"""One funding payment as a venue's funding history reports it; a frozen value, pure. Sign: the
amount is what the position PAID (positive) or received (negative); money is Decimal, time UTC."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from guard.core.domain import PositionKey, Side, require_utc


@dataclass(frozen=True, slots=True)
class FundingPayment:
    """Funding settled on one position at one funding time."""

    at: datetime
    symbol: str
    side: Side
    amount: Decimal  # paid (+) or received (-) in the settlement currency
    quantity: Decimal | None = None  # base units at settlement, when the venue says
    price: Decimal | None = None  # the price the payment was computed at, when known
    rate: Decimal | None = None  # the funding rate of that interval, when known

    def __post_init__(self) -> None:
        require_utc(self.at, "funding payment time")

    @property
    def key(self) -> PositionKey:
        return PositionKey(self.symbol, self.side)
