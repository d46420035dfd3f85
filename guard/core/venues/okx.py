"""OKX USDT-margined swap rules and margin arithmetic; pure, no I/O.

Sources: venues.md §6 ([OKX], [ccxt]); much of OKX is UNVERIFIED there. Quantities are counted in
contracts of face value `ctVal` (ccxt `contractSize`): base units = contracts × ctVal. Position
tiers (`/api/v5/public/position-tiers`) are bounded in CONTRACTS and carry no deduction:
MM = contracts × ctVal × mark × tier MMR. OKX's native `mgnRatio` is equity ÷ maintenance (higher
is safer, liquidation at <= 1 incl. a liquidation fee); the guard's normalised ratio is its
inverse (`normalised_margin_ratio`). The liquidation condition is equity <= MM + fee, modelled by
adding the taker fee rate to every tier's maintenance rate (`with_liquidation_fee`). Funding: 8 h default (per instrument),
payment = position value × rate, positive rate → longs pay.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

from guard.core.domain import INFINITY, ONE, ZERO, MarginTier
from guard.core.venues.base import VenueRules, decimal_of

RULES = VenueRules(
    name="okx",
    liquidates_at_equality=True,
    funding_interval=timedelta(hours=8),
    funding_price_basis="mark",
    client_id_max_length=32,
    client_id_format="alnum",
    client_id_pattern=r"[A-Za-z0-9]{1,32}",
    native_market_orders=True,
    ccxt_id="okx",
)


def base_quantity(contracts: Decimal, contract_value: Decimal) -> Decimal:
    """Contracts × ctVal: the quantity in base units the domain uses."""
    if contract_value <= ZERO:
        raise ValueError(f"ctVal must be positive, got {contract_value}")
    return abs(contracts) * contract_value


def tiers_from_position_tiers(
    rows: Sequence[Mapping[str, Any]], contract_value: Decimal, price: Decimal
) -> tuple[MarginTier, ...]:
    """Notional tiers from OKX position tiers (minSz/maxSz in contracts, mmr, maxLever).

    The domain's tiers are bounded in notional, so the contract bounds are converted at `price`
    (the current mark): exact for the position's present tier; as the price moves, OKX keeps the
    tier by size while the conversion moves it by notional (documented divergence).
    """
    if not rows:
        raise ValueError("okx position tiers: expected at least one row")
    parsed: list[MarginTier] = []
    for index, row in enumerate(rows):
        where = f"positionTiers[{index}]"
        floor = decimal_of(row, "minSz", where) * contract_value * price
        cap = decimal_of(row, "maxSz", where) * contract_value * price
        leverage = decimal_of(row, "maxLever", where) if row.get("maxLever") else None
        parsed.append(MarginTier(floor, cap, decimal_of(row, "mmr", where), ZERO, leverage))
    parsed.sort(key=lambda tier: tier.notional_floor)
    last = parsed[-1]
    parsed[-1] = MarginTier(
        last.notional_floor, INFINITY, last.maintenance_rate, ZERO, last.max_leverage
    )
    return tuple(parsed)


def normalised_margin_ratio(okx_mgn_ratio: Decimal) -> Decimal:
    """OKX `mgnRatio` (equity ÷ maintenance) as the guard's maintenance ÷ equity."""
    if okx_mgn_ratio <= ZERO:
        raise ValueError(f"mgnRatio must be positive, got {okx_mgn_ratio}")
    return ONE / okx_mgn_ratio


DEFAULT_TAKER_FEE = Decimal("0.0005")  # OKX's base-tier swap taker fee (ccxt's market default)


def with_liquidation_fee(tiers: Sequence[MarginTier], taker_fee: Decimal) -> tuple[MarginTier, ...]:
    """Tiers whose maintenance rate includes the liquidation fee: OKX liquidates when equity <=
    maintenance margin + fee, i.e. at notional × (tier MMR + fee rate) (venues.md §6.2)."""
    if taker_fee < ZERO:
        raise ValueError(f"taker fee must not be negative, got {taker_fee}")
    return tuple(
        MarginTier(
            tier.notional_floor,
            tier.notional_cap,
            tier.maintenance_rate + taker_fee,
            tier.maintenance_deduction,
            tier.max_leverage,
        )
        for tier in tiers
    )
