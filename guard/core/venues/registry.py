"""Venue name → VenueRules; pure. The venues the guard knows: paper and five real perp venues."""

from __future__ import annotations

from guard.core.venues import binance, bybit, dydx, hyperliquid, okx, paper
from guard.core.venues.base import VenueRules

_RULES: dict[str, VenueRules] = {
    rules.name: rules
    for rules in (
        paper.RULES,
        binance.RULES,
        bybit.RULES,
        okx.RULES,
        hyperliquid.RULES,
        dydx.RULES,
    )
}

VENUES: tuple[str, ...] = tuple(sorted(_RULES))


def rules_for(venue: str) -> VenueRules:
    """The rules of `venue`; ValueError listing the known venues for an unknown name."""
    try:
        return _RULES[venue.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown venue {venue!r}; expected one of: {', '.join(VENUES)}") from None
