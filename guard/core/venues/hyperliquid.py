"""Hyperliquid perpetual rules and margin arithmetic; pure, no I/O.

Sources: venues.md §3 ([HL-docs] margining, margin-tiers, liquidations, funding). Maintenance
rate = 1/(2·maxLeverage) ("half of the initial margin at max leverage"); margin tables add tiers
with deduction(n) = deduction(n−1) + lower_bound(n)·(mmr(n) − mmr(n−1)). Liquidation when account
value (cross) or isolated margin (isolated) falls below maintenance, at the mark price. The docs'
closed form `docs_liquidation_price` equals the generic solver in guard/core/margin.py (held-constant
other positions), which the tests check. Funding: hourly at 1/8 of the 8 h rate, payment =
size × ORACLE price × rate, positive → longs pay. Isolated margin (posted, excl. uPnL) =
marginUsed − unrealizedPnl; for a long marginUsed = rawUsd + positionValue.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

from guard.core.domain import ONE, ZERO, MarginTier, Side
from guard.core.venues.base import VenueRules, chained_tiers, decimal_of

TWO = Decimal(2)

RULES = VenueRules(
    name="hyperliquid",
    liquidates_at_equality=True,
    funding_interval=timedelta(hours=1),
    funding_price_basis="oracle",
    client_id_max_length=34,
    client_id_format="hex128",
    client_id_pattern=r"0x[0-9a-f]{32}",
    native_market_orders=False,
    ccxt_id="hyperliquid",
)


def maintenance_rate(max_leverage: Decimal) -> Decimal:
    """MMR = 1/(2·maxLeverage)."""
    if max_leverage <= ZERO:
        raise ValueError(f"maxLeverage must be positive, got {max_leverage}")
    return ONE / (TWO * max_leverage)


def tiers_for_max_leverage(max_leverage: Decimal) -> tuple[MarginTier, ...]:
    """The single tier of an asset without a margin table (or `marginTableId` < 50)."""
    return chained_tiers([(ZERO, maintenance_rate(max_leverage), max_leverage)])


def tiers_from_margin_table(margin_tiers: Sequence[Mapping[str, Any]]) -> tuple[MarginTier, ...]:
    """Tiers from a `meta` margin table's `marginTiers` rows {lowerBound, maxLeverage}."""
    if not margin_tiers:
        raise ValueError("hyperliquid marginTiers: expected at least one tier")
    rows: list[tuple[Decimal, Decimal, Decimal | None]] = []
    for index, row in enumerate(margin_tiers):
        where = f"marginTiers[{index}]"
        leverage = decimal_of(row, "maxLeverage", where)
        rows.append((decimal_of(row, "lowerBound", where), maintenance_rate(leverage), leverage))
    return chained_tiers(rows)


def docs_liquidation_price(
    side: Side, price: Decimal, size: Decimal, margin_available: Decimal, rate: Decimal
) -> Decimal:
    """The docs' formula: price − side·margin_available/size/(1 − rate·side).

    margin_available = account value (cross) or isolated margin incl. uPnL (isolated) minus the
    maintenance margin required now; `rate` = 1/maintenance leverage = the tier's MMR.
    """
    s = Decimal(side.sign)
    return price - s * margin_available / size / (ONE - rate * s)
