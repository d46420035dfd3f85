"""Binance USDⓈ-M futures rules and margin arithmetic; pure, no I/O.

Sources: venues.md §4 ([BN-faq-liq], [BN-faq-ratio], [BN-api]). Maintenance margin =
notional × bracket MMR − cum ("maintenance amount"); margin ratio = maintenance ÷ margin balance,
liquidation at >= 100 %. Cross wallet balance = `crossWalletBalance` (excludes uPnL and isolated
wallets); an isolated position's margin = its `isolatedWallet`. The FAQ's liquidation formula is the
generic one in guard/core/margin.py (other positions' maintenance and PnL held constant, brackets
iterated), so no venue-specific liquidation function is needed. Funding: 8 h by default (4/2/1 h
per symbol), payment = mark notional × rate, positive rate → longs pay.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

from guard.core.domain import INFINITY, MarginTier
from guard.core.venues.base import VenueRules, chained_tiers, decimal_of

RULES = VenueRules(
    name="binance",
    liquidates_at_equality=True,
    funding_interval=timedelta(hours=8),
    funding_price_basis="mark",
    client_id_max_length=36,
    client_id_format="text",
    client_id_pattern=r"[.A-Z:/a-z0-9_-]{1,36}",
    native_market_orders=True,
    reduce_only_exempt_from_min_notional=True,
    ccxt_id="binanceusdm",
)


def tiers_from_brackets(brackets: Sequence[Mapping[str, Any]]) -> tuple[MarginTier, ...]:
    """Tiers from `GET /fapi/v1/leverageBracket` rows (notionalFloor, notionalCap,
    maintMarginRatio, cum, initialLeverage), sorted by floor; the last cap is made unbounded."""
    if not brackets:
        raise ValueError("binance brackets: expected at least one bracket")
    rows: list[MarginTier] = []
    for index, row in enumerate(brackets):
        where = f"brackets[{index}]"
        rows.append(
            MarginTier(
                notional_floor=decimal_of(row, "notionalFloor", where),
                notional_cap=decimal_of(row, "notionalCap", where),
                maintenance_rate=decimal_of(row, "maintMarginRatio", where),
                maintenance_deduction=decimal_of(row, "cum", where),
                max_leverage=decimal_of(row, "initialLeverage", where),
            )
        )
    rows.sort(key=lambda tier: tier.notional_floor)
    last = rows[-1]
    rows[-1] = MarginTier(
        last.notional_floor,
        INFINITY,
        last.maintenance_rate,
        last.maintenance_deduction,
        last.max_leverage,
    )
    return tuple(rows)


def tiers_from_floor_rates(rows: Sequence[Sequence[Any]]) -> tuple[MarginTier, ...]:
    """Tiers from ccxt's `options.leverageBrackets` rows `[floor, maintMarginRatio]`; the
    maintenance amount (cum) is rebuilt with the FAQ rule
    amount(n) = floor(n)·(MMR(n) − MMR(n−1)) + amount(n−1)."""
    parsed: list[tuple[Decimal, Decimal, Decimal | None]] = []
    for index, row in enumerate(rows):
        if len(row) < 2:
            raise ValueError(f"leverageBrackets[{index}]: expected [floor, rate], got {row!r}")
        pair = {"floor": row[0], "rate": row[1]}
        where = f"leverageBrackets[{index}]"
        parsed.append((decimal_of(pair, "floor", where), decimal_of(pair, "rate", where), None))
    if not parsed:
        raise ValueError("leverageBrackets: expected at least one row")
    return chained_tiers(parsed)
