"""The venue-rules contract and the tiered margin model most venues share; pure, no I/O."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

from guard.domain import ZERO, MarketSpec, Position, frozen_map


def round_down(value: Decimal, step: Decimal) -> Decimal:
    """Largest multiple of `step` not above `value` (for a positive step); never rounds up."""
    if step <= ZERO:
        raise ValueError(f"step must be positive, got {step}")
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


def digest(*parts: str) -> bytes:
    """A stable 32-byte digest of the parts (used for deterministic client order ids)."""
    return hashlib.sha256("\x1f".join(parts).encode()).digest()


def maintenance_margin(position: Position, market: MarketSpec) -> Decimal:
    """Tiered maintenance margin at the position's mark: notional × rate − deduction, floored at 0."""
    notional = position.quantity * position.mark_price
    tier = market.tier_for(notional)
    return max(notional * tier.maintenance_rate - tier.maintenance_deduction, ZERO)


@dataclass(frozen=True, slots=True)
class VenueRules:
    """What the core needs to know about a venue; one instance per venue module."""

    name: str
    # True when liquidation happens at equity == maintenance (ratio >= 1); dYdX needs strictly below.
    liquidates_at_equality: bool = True
    funding_interval: timedelta = timedelta(hours=8)
    funding_price_basis: str = "mark"  # "mark" or "oracle"
    client_id_max_length: int = 36
    client_id_format: str = "text"  # "text", "hex128" (0x + 32 hex), "uint32", "alnum"
    native_market_orders: bool = True
    reduce_only_exempt_from_min_notional: bool = False
    ccxt_id: str | None = None
    ccxt_options: Mapping[str, Any] = field(default_factory=frozen_map)

    def is_liquidatable(self, equity: Decimal, maintenance: Decimal) -> bool:
        """The venue's liquidation condition for one margin pool."""
        if maintenance <= ZERO:
            return False
        if self.liquidates_at_equality:
            return equity <= maintenance
        return equity < maintenance

    def client_order_id(self, *parts: str) -> str:
        """A deterministic client order id in the venue's format, derived from `parts`."""
        raw = digest(*parts)
        if self.client_id_format == "hex128":
            return "0x" + raw[:16].hex()
        if self.client_id_format == "uint32":
            return str(int.from_bytes(raw[:4], "big") or 1)
        if self.client_id_format == "alnum":
            return ("g" + raw.hex())[: self.client_id_max_length]
        return ("g-" + raw.hex())[: self.client_id_max_length]
