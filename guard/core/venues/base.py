"""The venue-rules contract and the tiered margin model most venues share; pure, no I/O."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

from guard.core.domain import INFINITY, ZERO, MarginTier, MarketSpec, Position, frozen_map

# A venue-specific isolated liquidation price: (position, market) -> price, None if unreachable.
IsolatedLiquidation = Callable[[Position, MarketSpec], Decimal | None]


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
    return maintenance_at(position.quantity, position.mark_price, market)


def maintenance_at(quantity: Decimal, mark: Decimal, market: MarketSpec) -> Decimal:
    """Tiered maintenance margin of `quantity` base units at `mark` (see maintenance_margin)."""
    notional = quantity * mark
    tier = market.tier_for(notional)
    return max(notional * tier.maintenance_rate - tier.maintenance_deduction, ZERO)


def chained_tiers(
    rows: Sequence[tuple[Decimal, Decimal, Decimal | None]],
) -> tuple[MarginTier, ...]:
    """Tiers from (notional floor, maintenance rate, max leverage) rows, sorted by floor.

    The deduction of tier n is deduction(n−1) + floor(n)·(rate(n) − rate(n−1)), deduction(0) = 0:
    the rule Binance ("maintenance amount"), Bybit ("mmDeduction") and Hyperliquid publish, and the
    one that keeps maintenance continuous across tier boundaries. Each cap is the next floor.
    """
    ordered = sorted(rows, key=lambda row: row[0])
    tiers: list[MarginTier] = []
    deduction = ZERO
    previous_rate: Decimal | None = None
    for index, (floor, rate, max_leverage) in enumerate(ordered):
        if rate < ZERO:
            raise ValueError(f"maintenance rate must not be negative, got {rate}")
        if previous_rate is not None:
            deduction += floor * (rate - previous_rate)
        cap = ordered[index + 1][0] if index + 1 < len(ordered) else INFINITY
        tiers.append(MarginTier(floor, cap, rate, deduction, max_leverage))
        previous_rate = rate
    return tuple(tiers)


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
    # the venue's full client-id grammar (a regular expression), None when only the length counts
    client_id_pattern: str | None = None
    # True only where the venue documents that a client id is never accepted twice, so resending
    # an order whose outcome is unknown cannot reduce twice (docs/reliability.md, "Unknown
    # outcomes"); elsewhere such an order is resent only when the position proves it unapplied
    rejects_reused_client_id: bool = False
    # a venue whose isolated liquidation price follows its own published formula (Bybit: the
    # maintenance margin is taken at the entry value); None: margin.py's generic solver
    isolated_liquidation_price: IsolatedLiquidation | None = None

    def is_liquidatable(self, equity: Decimal, maintenance: Decimal) -> bool:
        """The venue's liquidation condition for one margin pool."""
        if maintenance <= ZERO:
            return False
        if self.liquidates_at_equality:
            return equity <= maintenance
        return equity < maintenance

    def is_valid_client_order_id(self, client_id: str) -> bool:
        """True when `client_id` fits the venue's length and grammar."""
        if not 0 < len(client_id) <= self.client_id_max_length:
            return False
        if self.client_id_pattern is not None:
            return re.fullmatch(self.client_id_pattern, client_id) is not None
        return True

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


def decimal_of(row: Mapping[str, Any], key: str, where: str) -> Decimal:
    """row[key] as an exact Decimal (from str/int/float); ValueError naming `where.key` otherwise."""
    value = row.get(key)
    if value is None or isinstance(value, bool) or value == "":
        raise ValueError(f"{where}.{key}: expected a number, got {value!r}")
    try:
        result = Decimal(str(value))
    except ArithmeticError:
        raise ValueError(f"{where}.{key}: expected a number, got {value!r}") from None
    if not result.is_finite():
        raise ValueError(f"{where}.{key}: expected a finite number, got {value!r}")
    return result
