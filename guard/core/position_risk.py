"""One position's risk as the operator reads it in `guard status` (size, leverage, liquidation
price and distance), carried on the engine's Decision. Pure data: no I/O, no behaviour."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class PositionRisk:
    """Money in the settlement currency, fractions as Decimal (0.05 = 5 %)."""

    symbol: str
    side: str  # long / short
    margin_mode: str  # cross / isolated
    quantity: Decimal  # base units
    mark_price: Decimal
    leverage: Decimal  # notional ÷ its pool's equity (Infinity when that equity is <= 0)
    liquidation_price: Decimal | None  # None: no positive price liquidates it
    liquidation_distance: Decimal | None  # (mark − liq)/mark towards liquidation
