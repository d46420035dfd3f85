"""The liquidation_progress ladder metric: how much of the liquidation distance a position had when
the guard first saw it (usually its entry) the mark has used up since its entry price; pure.
The starting distance is remembered in the rule's counters (parts per billion), so the guard's own
reductions, which move the liquidation price away, do not push the later bands further out."""

from __future__ import annotations

from decimal import Decimal

from guard.core.domain import ZERO, Position
from guard.core.margin import PositionMetrics

SCALE = Decimal(1_000_000_000)  # the starting distance is kept as an int in parts per billion


def room_key(episode_key: str) -> str:
    return f"{episode_key}|room"


def starting_room(position: Position, metrics: PositionMetrics) -> Decimal | None:
    """s·(entry − liquidation price) ÷ entry: the move from entry that liquidates, or None."""
    liq = metrics.liquidation_price
    if liq is None or position.entry_price <= ZERO:
        return None
    return position.side.sign * (position.entry_price - liq) / position.entry_price


def progress(
    position: Position, metrics: PositionMetrics, remembered: int | None
) -> tuple[Decimal | None, int | None]:
    """(progress, the room to remember): 0 at entry, 1 once the mark has moved the whole starting
    distance against the position, negative in profit. A position whose liquidation price is
    already at or past its entry counts as fully used (1)."""
    if remembered is not None and remembered > 0:
        room = Decimal(remembered) / SCALE
        keep = remembered
    else:
        found = starting_room(position, metrics)
        if found is None:
            return None, None
        if found <= ZERO:
            return Decimal(1), None
        room = found
        keep = max(int(found * SCALE), 1)
    move = position.side.sign * (position.entry_price - position.mark_price) / position.entry_price
    return move / room, keep
