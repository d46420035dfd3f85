"""Policy models of the episode rules with hysteresis: exit_ladder (bands on a position metric) and
drawdown (account equity below its peak); pure. Each episode ends only past its re-arm level."""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from guard.core.policy.schema_fields import Fraction, RuleBase, Strict, in_range, show_percent
from guard.core.policy.units import (
    Duration,
    Percent,
    format_duration,
    parse_percent,
    to_decimal,
)
from guard.core.volatility import VolatilityMeasure


class LadderMetric(StrEnum):
    """Metrics an exit ladder can watch, and in which direction each gets worse."""

    LIQUIDATION_DISTANCE = "liquidation_distance"  # % move of mark to liquidation; lower is worse
    MARGIN_RATIO = "margin_ratio"  # maintenance ÷ equity of the pool; higher is worse
    UNREALIZED_LOSS_PCT = "unrealized_loss_pct"  # loss ÷ entry notional; higher is worse
    DRAWDOWN_PCT = "drawdown_pct"  # account equity below its peak; higher is worse
    MARK_PRICE = "mark_price"  # direction must be given
    # share of the entry-to-liquidation distance used up (0 at entry, 100 % at liquidation);
    # higher is worse. A 20x position is not "near liquidation" at entry on this scale.
    LIQUIDATION_PROGRESS = "liquidation_progress"
    # the rule's `volatility` measure of the mark (ATR ÷ mark or realized vol); higher is worse
    VOLATILITY = "volatility"
    # the mark's adverse move from its best price over the rule's `volatility` window (the
    # highest high for a long, the lowest low for a short): a drawdown of the underlying, not of
    # leveraged equity; higher is worse
    PULLBACK = "pullback"
    # account equity below the equity when the rule first saw the position (its start), as a
    # share of that start; gains made since are never counted, so a winner giving back its gains
    # is at 0 % until it is below where it started; higher is worse
    EQUITY_LOSS_PCT = "equity_loss_pct"

    @property
    def is_percentage(self) -> bool:
        return self is not LadderMetric.MARK_PRICE

    @property
    def is_price_move(self) -> bool:
        """Metrics that are a move of the mark, so they can be counted in volatility units."""
        return self in (
            LadderMetric.LIQUIDATION_DISTANCE,
            LadderMetric.UNREALIZED_LOSS_PCT,
            LadderMetric.PULLBACK,
        )


class Direction(StrEnum):
    BELOW = "below"  # the metric gets worse as it falls: a band fires at or below its trigger
    ABOVE = "above"  # the metric gets worse as it rises: a band fires at or above its trigger


DEFAULT_DIRECTION = {
    LadderMetric.LIQUIDATION_DISTANCE: Direction.BELOW,
    LadderMetric.MARGIN_RATIO: Direction.ABOVE,
    LadderMetric.UNREALIZED_LOSS_PCT: Direction.ABOVE,
    LadderMetric.DRAWDOWN_PCT: Direction.ABOVE,
    LadderMetric.LIQUIDATION_PROGRESS: Direction.ABOVE,
    LadderMetric.VOLATILITY: Direction.ABOVE,
    LadderMetric.PULLBACK: Direction.ABOVE,
    LadderMetric.EQUITY_LOSS_PCT: Direction.ABOVE,
}
MAX_REARM_AFTER = timedelta(days=7)

TIMEFRAMES = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d")


class VolatilitySpec(Strict):
    """The candles behind a volatility metric or unit: `measure` over the last `bars` closed
    `timeframe` bars of the mark (fetched once per venue, market and timeframe)."""

    measure: VolatilityMeasure = VolatilityMeasure.ATR
    timeframe: Duration = timedelta(hours=1)
    bars: int = Field(default=14, ge=2, le=500)

    @model_validator(mode="after")
    def _known_timeframe(self) -> VolatilitySpec:
        if format_duration(self.timeframe) not in TIMEFRAMES:
            raise ValueError(f"timeframe must be one of {', '.join(TIMEFRAMES)}")
        return self


class TriggerUnits(StrEnum):
    PERCENT = "percent"  # triggers and rearm are percentages of the metric
    VOLATILITY = "volatility"  # triggers and rearm are multiples of the `volatility` measure


class AtStart(StrEnum):
    """What a ladder does with bands a position is already inside when the guard first sees it."""

    WARN = "warn"  # alert (ranked by proximity) and count those bands as passed: no order
    ACT = "act"  # reduce as if the bands had just been crossed


_UNIT_SUFFIXES = ("atr", "vol")


def _parse_level(raw: Any) -> Decimal:
    if isinstance(raw, str) and raw.strip().endswith("%"):
        return parse_percent(raw)
    if isinstance(raw, str) and raw.strip().lower().endswith(_UNIT_SUFFIXES):
        raw = raw.strip()[:-3]  # "3 atr" = 3 units of the rule's volatility measure
    return to_decimal(raw, "level")


Level = Annotated[Decimal, BeforeValidator(_parse_level)]


class LadderBand(Strict):
    """One band: when the metric reaches `trigger`, reduce `reduce` of the episode-start size."""

    trigger: Level
    reduce: Fraction  # of the position size at the start of the episode


class ExitLadderRule(RuleBase):
    """Staggered exits: bands on a metric, each firing once per episode, re-armed by hysteresis.

    Band fractions are fractions of the position size at the start of the episode (when the
    first band fired), so a ladder of 25 % + 25 % + 50 % closes exactly the episode-start size.
    """

    kind: Literal["exit_ladder"]
    metric: LadderMetric
    direction: Direction | None = None
    bands: tuple[LadderBand, ...] = Field(min_length=1)
    rearm: Level
    # the episode ends only once the metric has stayed past `rearm` this long: a partial recovery
    # that turns back sooner continues the same episode, so its fired bands do not fire again
    rearm_after: Duration = timedelta(0)
    confirm_ticks: int = Field(default=1, ge=1, le=100)  # a breach must hold this many ticks
    at_start: AtStart = AtStart.ACT
    volatility: VolatilitySpec | None = None
    units: TriggerUnits = TriggerUnits.PERCENT
    # a volatility gate on the bands ("8 atr"): a band fires only while the position's
    # liquidation distance is at most this many units of the rule's `volatility` measure, so a
    # slow calm drift that uses up progress with many ATRs of room left does not sell, while a
    # crash (whose ATR grows as the room shrinks) does. Without a reading the gate is open: it
    # only ever holds a band back, never makes one fire.
    act_within: Level | None = None

    @property
    def needs_candles(self) -> bool:
        return (
            self.units is TriggerUnits.VOLATILITY
            or self.act_within is not None
            or self.metric in (LadderMetric.VOLATILITY, LadderMetric.PULLBACK)
        )

    @field_validator("rearm_after")
    @classmethod
    def _rearm_after_in_range(cls, value: timedelta) -> timedelta:
        if not timedelta(0) <= value <= MAX_REARM_AFTER:
            raise ValueError(
                f"must be between 0s and {format_duration(MAX_REARM_AFTER)} (how long the metric "
                f"stays past rearm before the episode ends); got {format_duration(value)}"
            )
        return value

    @model_validator(mode="after")
    def _coherent(self) -> ExitLadderRule:
        direction = self.effective_direction
        if self.needs_candles and self.volatility is None:
            raise ValueError(
                "this ladder needs `volatility: {measure: atr, timeframe: 1h, bars: 14}` "
                "(the candles behind its metric, units or act_within)"
            )
        if self.act_within is not None and self.act_within <= 0:
            raise ValueError(
                f"act_within must be a positive multiple of the volatility measure, e.g. "
                f"'8 atr'; got {self.act_within}"
            )
        if self.units is TriggerUnits.VOLATILITY:
            if not self.metric.is_price_move:
                raise ValueError(
                    "units: volatility counts a move of the mark: use it with "
                    "liquidation_distance, unrealized_loss_pct or pullback"
                )
            for index, band in enumerate(self.bands, start=1):
                if band.trigger <= 0:
                    raise ValueError(f"band {index} trigger must be a positive multiple, e.g. 3")
        elif self.metric.is_percentage:
            for index, band in enumerate(self.bands, start=1):
                if not Decimal(0) < band.trigger <= Decimal(1):
                    raise ValueError(
                        f"band {index} trigger must be a percentage above 0% and at most 100%, "
                        f"e.g. '15%'"
                    )
        triggers = [band.trigger for band in self.bands]
        ordered = all(
            (a > b) if direction is Direction.BELOW else (a < b)
            for a, b in itertools.pairwise(triggers)
        )
        if not ordered:
            expected = "decreasing" if direction is Direction.BELOW else "increasing"
            raise ValueError(
                f"band triggers must be strictly {expected} for {self.metric.value} "
                f"(each band deeper than the one before, no overlaps); got "
                f"{', '.join(str(t) for t in triggers)}"
            )
        first = triggers[0]
        safe = self.rearm > first if direction is Direction.BELOW else self.rearm < first
        if not safe:
            side = "above" if direction is Direction.BELOW else "below"
            raise ValueError(
                f"rearm must be {side} the first band's trigger {first} so the episode can end "
                f"(hysteresis); got {self.rearm}"
            )
        return self

    @property
    def effective_direction(self) -> Direction:
        if self.direction is not None:
            return self.direction
        if self.metric is LadderMetric.MARK_PRICE:
            raise ValueError("a mark_price ladder needs direction: below (long) or above (short)")
        return DEFAULT_DIRECTION[self.metric]

    @model_validator(mode="before")
    @classmethod
    def _direction_for_price(cls, data: Any) -> Any:
        within = data.get("act_within") if isinstance(data, dict) else None
        if isinstance(within, str) and within.strip().endswith("%"):
            raise ValueError(
                f"act_within counts units of the rule's volatility measure, not a percentage: "
                f"write e.g. '8 atr' (got {within!r})"
            )
        if isinstance(data, dict) and data.get("units") != "volatility":
            levels = [data.get("rearm")] + [
                b.get("trigger") for b in data.get("bands") or () if isinstance(b, dict)
            ]
            if any(
                isinstance(v, str) and v.strip().lower().endswith(_UNIT_SUFFIXES) for v in levels
            ):
                raise ValueError(
                    "a trigger or rearm in volatility units ('3 atr') needs units: volatility "
                    "and a `volatility` spec"
                )
        if (
            isinstance(data, dict)
            and data.get("metric") == "mark_price"
            and not data.get("direction")
        ):
            raise ValueError("a mark_price ladder needs direction: below or above")
        return data


class DrawdownAction(StrEnum):
    REDUCE = "reduce"
    FLATTEN = "flatten"


class DrawdownRule(RuleBase):
    """Equity below its peak within `window` by `max_drawdown` → reduce `reduce` of each selected
    position's current size (once per episode) or flatten; re-arms below `rearm`."""

    kind: Literal["drawdown"]
    max_drawdown: Fraction
    window: Duration = timedelta(days=1)
    action: DrawdownAction = DrawdownAction.REDUCE
    reduce: Fraction | None = None
    rearm: Annotated[Percent, in_range("rearm", Decimal(0), Decimal(1), low_open=False)]

    @model_validator(mode="after")
    def _coherent(self) -> DrawdownRule:
        if self.action is DrawdownAction.REDUCE and self.reduce is None:
            raise ValueError("action: reduce needs `reduce`, e.g. '50%'")
        if self.action is DrawdownAction.FLATTEN and self.reduce is not None:
            raise ValueError("`reduce` only goes with action: reduce (flatten closes all)")
        if not self.rearm < self.max_drawdown:
            raise ValueError(
                f"rearm must be below max_drawdown so the episode can end (hysteresis); got "
                f"rearm {show_percent(self.rearm)}, max_drawdown {show_percent(self.max_drawdown)}"
            )
        if not timedelta(0) < self.window <= MAX_PEAK_WINDOW:
            raise ValueError("window must be positive and at most 30d (the peak history kept)")
        return self


MAX_PEAK_WINDOW = timedelta(days=30)
