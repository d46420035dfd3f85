"""Each margin pool's distance to liquidation at the paper venue's `now` (for the replay chart):
the nearest liquidation price among the pool's positions, as a fraction of the mark; pure reads."""

from __future__ import annotations

from guard.core.domain import MarginMode
from guard.core.margin import measure
from guard.gateway.paper.venue import PaperVenue


def pool_distances(venue: PaperVenue, account: str) -> dict[str, float]:
    """'cross' or 'isolated:<symbol>' → the smallest liquidation distance of its positions
    (a pool whose positions have no liquidation price is left out)."""
    found: dict[str, float] = {}
    for position in measure(venue.snapshot(account), venue.rules).positions:
        if position.liquidation_distance is None:
            continue
        pool = (
            "cross"
            if position.margin_mode is MarginMode.CROSS
            else f"isolated:{position.key.symbol}"
        )
        distance = float(position.liquidation_distance)
        found[pool] = min(distance, found.get(pool, distance))
    return found
