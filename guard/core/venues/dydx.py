"""dYdX v4 perpetual rules and margin arithmetic; pure, no I/O.

Sources: venues.md §2 ([DY-docs] margin, liquidations, funding; [DY-chain] lib.go, risk.go).
Maintenance fraction = base IMF × maintenance fraction (flat per market, no tiers); the IMF
scales with open interest between the liquidity tier's caps (`effective_imf`). Equity = USDC
balance + Σ signed size × ORACLE price; liquidation when net collateral is STRICTLY below the
maintenance requirement (`liquidates_at_equality=False`). The docs' isolated/cross liquidation
formulas p' = (e − s·p − MMR_o)/(|s|·MMF − s) are the generic solver in guard/core/margin.py.
"Isolated" positions are child subaccounts (number >= 128), each margined on its own.
Funding: hourly, the indexer publishes the 1 h rate (8 h rate / 8), payment at the oracle price,
positive → longs pay.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from guard.core.domain import INFINITY, ONE, ZERO, MarginTier
from guard.core.venues.base import VenueRules

CHILD_SUBACCOUNT_START = 128

RULES = VenueRules(
    name="dydx",
    liquidates_at_equality=False,
    funding_interval=timedelta(hours=1),
    funding_price_basis="oracle",
    client_id_max_length=10,
    client_id_format="uint32",
    client_id_pattern=r"[0-9]{1,10}",
    native_market_orders=False,
    ccxt_id="dydx",
)


def maintenance_fraction(base_imf: Decimal, fraction_of_imf: Decimal) -> Decimal:
    """MMF = base IMF × maintenance fraction (e.g. 2 % × 60 % = 1.2 %)."""
    if not (ZERO < base_imf <= ONE and ZERO < fraction_of_imf <= ONE):
        raise ValueError(f"expected 0 < IMF, fraction <= 1, got {base_imf}, {fraction_of_imf}")
    return base_imf * fraction_of_imf


def effective_imf(
    base_imf: Decimal, open_notional: Decimal, lower_cap: Decimal, upper_cap: Decimal
) -> Decimal:
    """The open-interest-scaled IMF: base + max(scaling·(1 − base), 0), capped at 1.

    scaling = (open_notional − lower_cap)/(upper_cap − lower_cap); disabled when upper_cap is 0.
    """
    if upper_cap == ZERO:
        return base_imf
    if upper_cap <= lower_cap:
        raise ValueError(
            f"open interest caps must satisfy lower < upper, got {lower_cap}, {upper_cap}"
        )
    scaling = (open_notional - lower_cap) / (upper_cap - lower_cap)
    return min(base_imf + max(scaling * (ONE - base_imf), ZERO), ONE)


def tiers(imf: Decimal, mmf: Decimal) -> tuple[MarginTier, ...]:
    """The single flat tier of a dYdX market: rate MMF, max leverage 1/IMF."""
    if imf <= ZERO or mmf < ZERO:
        raise ValueError(f"expected IMF > 0 and MMF >= 0, got {imf}, {mmf}")
    return (MarginTier(ZERO, INFINITY, mmf, ZERO, ONE / imf),)


def is_child_subaccount(number: int) -> bool:
    """Child subaccounts (128..128,000) hold the frontend's "isolated" positions."""
    return number >= CHILD_SUBACCOUNT_START
