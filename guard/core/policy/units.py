"""Human units of policy files normalised to Decimal and timedelta; pure, raises ValueError."""

from __future__ import annotations

import math
import re
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
LONGEST_DURATION = timedelta(days=3650)  # ten years: anything longer is a typo, not a setting


def to_decimal(raw: Any, what: str = "value") -> Decimal:
    """A Decimal from a decimal string or a number (floats through their shortest repr)."""
    if isinstance(raw, bool):
        raise ValueError(f"{what} must be a number, got {raw!r}")
    if isinstance(raw, Decimal):
        value = raw
    elif isinstance(raw, int | float | str):
        try:
            value = Decimal(str(raw).strip().replace("_", ""))
        except InvalidOperation:
            raise ValueError(
                f"{what} must be a decimal number like '50000' or '0.5', got {raw!r}"
            ) from None
    else:
        raise ValueError(f"{what} must be a number, got {type(raw).__name__}")
    if not value.is_finite():
        raise ValueError(f"{what} must be finite, got {raw!r}")
    return value


def parse_percent(raw: Any) -> Decimal:
    """'20%' -> 0.2; a bare number is a fraction (0.2) and must be within [0, 1]."""
    if isinstance(raw, str) and raw.strip().endswith("%"):
        return to_decimal(raw.strip()[:-1], "percentage") / 100
    value = to_decimal(raw, "percentage")
    if not Decimal(0) <= value <= Decimal(1):
        raise ValueError(
            f"a bare number is read as a fraction between 0 and 1; write {raw} percent as '{raw}%'"
        )
    return value


def parse_leverage(raw: Any) -> Decimal:
    """'5x' or 5 -> Decimal(5)."""
    if isinstance(raw, str) and raw.strip().lower().endswith("x"):
        raw = raw.strip()[:-1]
    return to_decimal(raw, "leverage")


def parse_duration(raw: Any) -> timedelta:
    """'8h', '30m', '45s', '1d', '1w' or a number of seconds -> timedelta."""
    if isinstance(raw, timedelta):
        return raw
    seconds: float | None = None
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        seconds = float(raw)
    elif isinstance(raw, str):
        match = _DURATION.match(raw)
        if match:
            seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds is None:
        raise ValueError(f"a duration looks like '30s', '15m', '8h' or '1d', got {raw!r}")
    if not math.isfinite(seconds) or abs(seconds) > LONGEST_DURATION.total_seconds():
        raise ValueError(
            f"a duration must be finite and at most {LONGEST_DURATION.days}d, got {raw!r}"
        )
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    seconds = value.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def format_percent(value: Decimal) -> str:
    return f"{(value * 100).normalize():f}%"


Percent = Annotated[
    Decimal, BeforeValidator(parse_percent), PlainSerializer(format_percent, return_type=str)
]
Leverage = Annotated[
    Decimal, BeforeValidator(parse_leverage), PlainSerializer(str, return_type=str)
]
Money = Annotated[
    Decimal,
    BeforeValidator(lambda raw: to_decimal(raw, "amount")),
    PlainSerializer(str, return_type=str),
]
Duration = Annotated[
    timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration, return_type=str)
]
