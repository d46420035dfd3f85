"""The replay's stop-loss baselines: where each position's stop sits (a fixed % from entry, a fraction
of the starting liquidation distance, or freqtrade's liquidation_buffer), never beyond the
liquidation price (clamped, with a warning); pure arithmetic on the starting account."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from guard.core.domain import ZERO, AccountSnapshot, PositionKey, Side
from guard.core.margin import measure
from guard.core.venues.base import VenueRules

CLAMP_BUFFER = Decimal("0.05")  # a clamped stop keeps 5 % of the entry-to-liquidation room


class StopKind(StrEnum):
    """How a baseline places its stop."""

    FIXED = "fixed"  # `value` from the entry price (a fraction), e.g. 5 %
    LIQUIDATION_FRACTION = "liquidation_fraction"  # `value` of the way from entry to liquidation
    LIQUIDATION_BUFFER = "liquidation_buffer"  # freqtrade: liq price + `value` × (entry − liq)


@dataclass(frozen=True, slots=True)
class StopBaseline:
    """One stop-loss baseline run: its name in the report and how it places stops."""

    name: str
    kind: StopKind
    value: Decimal

    def __post_init__(self) -> None:
        if not ZERO < self.value < 1:
            raise ValueError(f"{self.name}: the stop setting must be between 0 % and 100 %")

    def describe(self) -> str:
        shown = f"{(self.value * 100).normalize():f}%"
        match self.kind:
            case StopKind.FIXED:
                return f"stop {shown} from entry (clamped inside liquidation)"
            case StopKind.LIQUIDATION_FRACTION:
                return f"stop at {shown} of the starting liquidation distance"
            case StopKind.LIQUIDATION_BUFFER:
                return f"stop at liquidation + {shown} of (entry − liquidation), freqtrade-style"


def standard_baselines(fixed: Decimal) -> tuple[StopBaseline, ...]:
    """The replay's three baselines: the fixed stop, half the liquidation distance, and
    freqtrade's default liquidation_buffer of 5 %."""
    return (
        StopBaseline("stop_loss", StopKind.FIXED, fixed),
        StopBaseline("stop_half_liq", StopKind.LIQUIDATION_FRACTION, Decimal("0.5")),
        StopBaseline("liq_buffer", StopKind.LIQUIDATION_BUFFER, CLAMP_BUFFER),
    )


def stop_level(side: Side, entry: Decimal, distance: Decimal) -> Decimal:
    """The trigger price of a stop-loss `distance` (a fraction) away from entry, against the side."""
    return entry * (1 - distance) if side is Side.LONG else entry * (1 + distance)


def stop_levels(
    baseline: StopBaseline, snapshot: AccountSnapshot, rules: VenueRules
) -> tuple[dict[PositionKey, Decimal], tuple[str, ...]]:
    """The stop price per position at the start, and a warning for every clamped stop."""
    metrics = measure(snapshot, rules)
    levels: dict[PositionKey, Decimal] = {}
    warnings: list[str] = []
    for position in snapshot.positions:
        entry, sign = position.entry_price, position.side.sign
        found = metrics.position(position.key)
        liq = found.liquidation_price if found is not None else None
        room = sign * (entry - liq) if liq is not None else None
        if baseline.kind is StopKind.FIXED:
            level = stop_level(position.side, entry, baseline.value)
        elif liq is None or room is None or room <= ZERO:
            warnings.append(f"{baseline.name}: {position.key} has no liquidation price: no stop")
            continue
        elif baseline.kind is StopKind.LIQUIDATION_FRACTION:
            level = entry - sign * baseline.value * room
        else:
            level = liq + sign * baseline.value * room
        if liq is not None and room is not None and room > ZERO and sign * (level - liq) <= 0:
            clamped = liq + sign * CLAMP_BUFFER * room
            warnings.append(
                f"{baseline.name}: the stop for {position.key} at {level:.2f} is beyond its "
                f"liquidation price {liq:.2f}; clamped to {clamped:.2f}"
            )
            level = clamped
        levels[position.key] = level
    return levels, tuple(warnings)
