"""Stop-loss baselines: never beyond the liquidation price (clamped with a warning), a stop at a
fraction of the starting liquidation distance, and freqtrade's liquidation_buffer."""

from __future__ import annotations

from decimal import Decimal

from guard.core.domain import PositionKey, Side
from guard.core.margin import measure
from guard.core.venues.paper import RULES
from guard.lab.replay.baselines import StopBaseline, StopKind, stop_levels
from tests.builders import D, position, snapshot

KEY = PositionKey("BTC/USDT:USDT", Side.LONG)


def account(quantity: str) -> object:
    return snapshot([position(quantity=quantity, entry="60000", leverage="20")], wallet="10000")


def liquidation(quantity: str) -> Decimal:
    found = measure(account(quantity), RULES).positions[0].liquidation_price  # type: ignore[arg-type]
    assert found is not None
    return found


def test_stop_when_fixed_5pct_beyond_20x_liquidation_then_clamped_inside_with_warning() -> None:
    baseline = StopBaseline("stop_loss", StopKind.FIXED, D("0.05"))
    levels, warnings = stop_levels(baseline, account("3.333"), RULES)  # type: ignore[arg-type]
    liq = liquidation("3.333")
    assert levels[KEY] > liq and levels[KEY] == liq + D("0.05") * (60000 - liq)
    assert len(warnings) == 1 and "beyond its liquidation price" in warnings[0]


def test_stop_when_fixed_within_liquidation_then_at_the_distance_without_warning() -> None:
    baseline = StopBaseline("stop_loss", StopKind.FIXED, D("0.05"))
    levels, warnings = stop_levels(baseline, account("1"), RULES)  # type: ignore[arg-type]
    assert levels[KEY] == D(57000) and warnings == ()


def test_stop_when_half_liquidation_distance_then_midway_between_entry_and_liquidation() -> None:
    baseline = StopBaseline("half", StopKind.LIQUIDATION_FRACTION, D("0.5"))
    levels, _ = stop_levels(baseline, account("3.333"), RULES)  # type: ignore[arg-type]
    assert abs(levels[KEY] - (D(60000) + liquidation("3.333")) / 2) < D("0.000001")


def test_stop_when_liquidation_buffer_then_buffer_share_above_liquidation() -> None:
    baseline = StopBaseline("buffer", StopKind.LIQUIDATION_BUFFER, D("0.05"))
    levels, _ = stop_levels(baseline, account("3.333"), RULES)  # type: ignore[arg-type]
    liq = liquidation("3.333")
    assert levels[KEY] == liq + D("0.05") * (60000 - liq)
