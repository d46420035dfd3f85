"""Bybit v5 linear (USDT perpetual, Unified Trading Account) rules and margin arithmetic; pure.

Sources: venues.md §5 ([BY-docs], [BY-hc]). Maintenance margin = position value × MMR − mmDeduction
(risk-limit tiers). Cross: liquidation when the account maintenance rate reaches 100 % (generic
solver in guard/core/margin.py). Isolated: liquidation when the mark reaches the position's LP, which the
help centre publishes as LP = entry ∓ (IM − MM)/size ∓ extra margin/size with IM and MM taken at the
ENTRY value (not at the liquidation price): `isolated_liquidation_price` implements exactly that
(estimated closing fees excluded, as in the published examples). Funding: per symbol interval
(`fundingInterval`, minutes), payment = position value × rate, positive rate → longs pay.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

from guard.core.domain import INFINITY, ZERO, MarginTier, MarketSpec, Position
from guard.core.venues.base import VenueRules, decimal_of


def isolated_liquidation_price(position: Position, market: MarketSpec) -> Decimal | None:
    """Bybit's isolated LP: entry − s·(posted margin − MM at entry value)/size.

    The posted margin (`Position.isolated_margin`) is IM + extra margin added, so the help centre's
    `(IM − MM)/size + ExtraMarginAdded/size` is `(isolated_margin − MM)/size`.
    """
    if position.quantity <= ZERO:
        return None
    entry_value = position.quantity * position.entry_price
    tier = market.tier_for(entry_value)
    maintenance = max(entry_value * tier.maintenance_rate - tier.maintenance_deduction, ZERO)
    margin = position.isolated_margin or ZERO
    price = position.entry_price - position.side.sign * (margin - maintenance) / position.quantity
    return price if price > ZERO else None


RULES = VenueRules(
    name="bybit",
    liquidates_at_equality=True,
    funding_interval=timedelta(hours=8),
    funding_price_basis="mark",
    client_id_max_length=36,
    client_id_format="text",
    # orderLinkId: "always unique" (Bybit v5 create-order docs; venues.md §5)
    rejects_reused_client_id=True,
    client_id_pattern=r"[A-Za-z0-9_-]{1,36}",
    native_market_orders=True,
    ccxt_id="bybit",
    isolated_liquidation_price=isolated_liquidation_price,
)


def tiers_from_risk_limits(rows: Sequence[Mapping[str, Any]]) -> tuple[MarginTier, ...]:
    """Tiers from `GET /v5/market/risk-limit` rows (riskLimitValue = the tier's cap,
    maintenanceMargin = rate, mmDeduction, maxLeverage); each floor is the previous cap."""
    if not rows:
        raise ValueError("bybit risk limits: expected at least one row")
    parsed: list[tuple[Decimal, Decimal, Decimal, Decimal | None]] = []
    for index, row in enumerate(rows):
        where = f"riskLimits[{index}]"
        deduction_raw = row.get("mmDeduction")
        deduction = ZERO if deduction_raw in (None, "") else decimal_of(row, "mmDeduction", where)
        leverage = decimal_of(row, "maxLeverage", where) if row.get("maxLeverage") else None
        parsed.append(
            (
                decimal_of(row, "riskLimitValue", where),
                decimal_of(row, "maintenanceMargin", where),
                deduction,
                leverage,
            )
        )
    parsed.sort(key=lambda item: item[0])
    tiers: list[MarginTier] = []
    floor = ZERO
    for index, (cap, rate, deduction, leverage) in enumerate(parsed):
        top = INFINITY if index == len(parsed) - 1 else cap
        tiers.append(MarginTier(floor, top, rate, deduction, leverage))
        floor = cap
    return tuple(tiers)


def funding_interval_from_minutes(minutes: Decimal | int) -> timedelta:
    """`instruments-info.fundingInterval` (minutes) as a timedelta."""
    value = Decimal(minutes)
    if value <= ZERO:
        raise ValueError(f"fundingInterval must be positive minutes, got {minutes}")
    return timedelta(minutes=float(value))
