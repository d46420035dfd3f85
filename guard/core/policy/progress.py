"""The ladder metrics measured from the position's start, both pure. liquidation_progress: how much
of the liquidation distance a position had when the guard first saw it (usually its entry) the
mark has used up since its entry price; the starting distance is remembered in the rule's counters
(parts per billion), so the guard's own reductions, which move the liquidation price away, do not
push the later bands further out. equity_loss_pct: the account equity below the equity when the
rule first saw the position (remembered in millionths), never counting gains made since."""

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


EQUITY_SCALE = Decimal(1_000_000)  # the starting equity is kept as an int in millionths


def equity_key(episode_key: str) -> str:
    return f"{episode_key}|equity"


def equity_loss(equity: Decimal, remembered: int | None) -> tuple[Decimal | None, int | None]:
    """(loss, the starting equity to remember): the account equity below the equity the rule saw
    when it first saw the position, as a share of that starting equity; 0 in profit (gains are
    never counted, so a winner giving back its gains is not in loss until below its start).
    None while the account has no positive equity to start from."""
    if remembered is not None and remembered > 0:
        start = Decimal(remembered) / EQUITY_SCALE
        keep: int | None = remembered
    else:
        if equity <= ZERO:
            return None, None
        start, keep = equity, max(int(equity * EQUITY_SCALE), 1)
    return max((start - equity) / start, ZERO), keep
