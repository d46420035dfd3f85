"""One position's risk as the operator reads it in `guard status` (size, leverage, liquidation
price and distance), carried on the engine's Decision, and its ranking by liquidation proximity
for the start-up warning; pure."""

from __future__ import annotations

from collections.abc import Sequence
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


def nearest_liquidation_first(positions: Sequence[PositionRisk]) -> tuple[PositionRisk, ...]:
    """Positions ranked by liquidation distance, nearest first (no liquidation price: last)."""
    return tuple(
        sorted(
            positions,
            key=lambda p: (p.liquidation_distance is None, p.liquidation_distance or 0, p.symbol),
        )
    )


def proximity_lines(positions: Sequence[PositionRisk]) -> tuple[str, ...]:
    """One line per position, nearest liquidation first, as the start-up warning reads."""
    lines = []
    for rank, p in enumerate(nearest_liquidation_first(positions), start=1):
        leverage = "∞" if not p.leverage.is_finite() else f"{p.leverage.quantize(Decimal('0.1'))}"
        head = f"{rank}. {p.symbol} {p.side} {p.margin_mode} {leverage}x"
        if p.liquidation_price is None or p.liquidation_distance is None:
            lines.append(f"{head}: no liquidation price (mark {p.mark_price})")
            continue
        away = (p.liquidation_distance * 100).quantize(Decimal("0.01"))
        lines.append(
            f"{head}: liquidation {p.liquidation_price.quantize(Decimal('0.01'))} is {away}% "
            f"away (mark {p.mark_price})"
        )
    return tuple(lines)
