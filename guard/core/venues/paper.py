"""Rules of the built-in paper venue: tiered maintenance margin, liquidation at ratio >= 1; pure."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from guard.core.domain import INFINITY, MarginTier
from guard.core.venues.base import VenueRules

RULES = VenueRules(
    name="paper",
    liquidates_at_equality=True,
    funding_interval=timedelta(hours=8),
    funding_price_basis="mark",
    client_id_max_length=36,
    client_id_format="text",
    # the paper venue refuses a client id it has seen (guard/gateway/paper/venue.py)
    rejects_reused_client_id=True,
    native_market_orders=True,
)

# A Binance-like bracket table (maintenance amount = cumulative deduction), in quote currency.
DEFAULT_TIERS: tuple[MarginTier, ...] = (
    MarginTier(Decimal(0), Decimal(50_000), Decimal("0.004"), Decimal(0), Decimal(125)),
    MarginTier(Decimal(50_000), Decimal(250_000), Decimal("0.005"), Decimal(50), Decimal(100)),
    MarginTier(Decimal(250_000), Decimal(3_000_000), Decimal("0.01"), Decimal(1_300), Decimal(50)),
    MarginTier(Decimal(3_000_000), INFINITY, Decimal("0.025"), Decimal(46_300), Decimal(20)),
)
