"""Venue-reported vs computed liquidation prices; pure. A reported price that diverges from the
computed one by more than a relative tolerance becomes an Alert, never silently ignored."""

from __future__ import annotations

from decimal import Decimal

from guard.core.domain import ZERO, Alert, Severity
from guard.core.margin import AccountMetrics


def cross_check_liquidation(metrics: AccountMetrics, tolerance: Decimal) -> tuple[Alert, ...]:
    """Alerts for positions whose venue-reported liquidation price diverges from the computed one.

    Divergence = |computed − reported| ÷ reported; beyond `tolerance` (a fraction, e.g. 0.005)
    it is an Alert of kind "liquidation_price_divergence" naming the symbol, both prices, the
    divergence and the tolerance. A reported price where the guard computes none (no positive
    price liquidates the position) is a divergence too. Positions without a reported price pass.
    """
    if tolerance < ZERO:
        raise ValueError(f"tolerance must not be negative, got {tolerance}")
    alerts: list[Alert] = []
    for position in metrics.positions:
        reported = position.venue_liquidation_price
        if reported is None or reported <= ZERO:
            continue
        computed = position.liquidation_price
        if computed is None:
            detail = "the guard computes no liquidation price (no positive price liquidates it)"
        else:
            divergence = abs(computed - reported) / reported
            if divergence <= tolerance:
                continue
            detail = (
                f"computed {_fmt(computed)}, divergence {_fmt(divergence * 100, 4)} % "
                f"> tolerance {_fmt(tolerance * 100, 4)} %"
            )
        alerts.append(
            Alert(
                kind="liquidation_price_divergence",
                severity=Severity.WARNING,
                message=(
                    f"{position.key}: venue liquidation price {_fmt(reported)} vs {detail}; "
                    "check the snapshot's balance, tiers and other positions"
                ),
                symbol=position.key.symbol,
            )
        )
    return tuple(alerts)


def _fmt(value: Decimal, places: int = 8) -> str:
    try:
        return f"{value.quantize(Decimal(1).scaleb(-places)).normalize():f}"
    except ArithmeticError:  # too many digits to quantize: print it as it is
        return str(value)
