"""Policy models of the rules checked afresh every tick: buffer_floor, funding_threshold,
leverage_cap, exposure_cap (reducing positions by `order`) and stale_data (alert only); pure."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from guard.core.policy.schema_fields import (
    Fraction,
    PositiveLeverage,
    PositiveMoney,
    RuleBase,
    in_range,
    show_percent,
)
from guard.core.policy.units import Duration, Percent


class StaleDataRule(RuleBase):
    """Alert when the snapshot is older than `max_age`; the guard never orders on stale data."""

    kind: Literal["stale_data"]
    max_age: Duration

    @field_validator("max_age")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("max_age must be positive")
        return value


class ReductionOrder(StrEnum):
    """Which positions a level rule reduces first."""

    HIGHEST_LEVERAGE = "highest_leverage"  # largest notional ÷ own pool equity first
    LARGEST_LOSS = "largest_loss"  # most negative unrealized PnL first
    HIGHEST_FUNDING_COST = "highest_funding_cost"  # pays the most funding per interval first
    PRIORITY = "priority"  # by the `priority` list of symbol globs, then the rest by leverage
    PRO_RATA = "pro_rata"  # every selected position by the same fraction


class OrderedRule(RuleBase):
    """A rule that picks positions to reduce by `order` (and `priority` for order: priority).

    `min_order_notional`: a restated reduction worth less than this (at the mark) is reported,
    not sent, unless it closes the position: a level rule never drips dust orders."""

    order: ReductionOrder = ReductionOrder.HIGHEST_LEVERAGE
    priority: tuple[str, ...] = ()
    min_order_notional: PositiveMoney | None = None

    @model_validator(mode="after")
    def _priority_given(self) -> OrderedRule:
        if self.order is ReductionOrder.PRIORITY and not self.priority:
            raise ValueError("order: priority needs a `priority` list of symbol patterns")
        return self


class BufferMetric(StrEnum):
    FREE_COLLATERAL_PCT = "free_collateral_pct"  # free collateral ÷ cross equity; lower is worse
    MARGIN_RATIO = "margin_ratio"  # maintenance ÷ equity of the pool; higher is worse


class BufferFloorRule(OrderedRule):
    """Keep a collateral buffer: on breach of `floor`, reduce until `restore` is reached.

    free_collateral_pct: breach when free collateral ÷ cross equity falls below `floor`.
    margin_ratio: breach when a pool's maintenance ÷ equity rises above `floor`. Isolated positions
    are judged by their own margin (their own pool's ratio); reducing an isolated position scales
    its margin and maintenance alike, so a breaching isolated position is reduced by
    `isolated_reduce` of its size.
    """

    kind: Literal["buffer_floor"]
    metric: BufferMetric
    floor: Fraction
    restore: Fraction
    isolated_reduce: Fraction = Decimal("0.5")

    @model_validator(mode="after")
    def _restore_safe(self) -> BufferFloorRule:
        if self.metric is BufferMetric.FREE_COLLATERAL_PCT and not self.restore > self.floor:
            raise ValueError(
                f"restore must be above floor for free_collateral_pct (got floor "
                f"{show_percent(self.floor)}, restore {show_percent(self.restore)})"
            )
        if self.metric is BufferMetric.MARGIN_RATIO and not self.restore < self.floor:
            raise ValueError(
                f"restore must be below floor for margin_ratio (got floor "
                f"{show_percent(self.floor)}, restore {show_percent(self.restore)})"
            )
        return self


class RateSource(StrEnum):
    CURRENT = "current"
    PREDICTED = "predicted"


class FundingAction(StrEnum):
    CLOSE = "close"
    REDUCE = "reduce"


class FundingThresholdRule(RuleBase):
    """Reduce or close positions paying funding above `threshold`.

    `threshold` is per funding interval ("0.05%") or, with `annualised: true`, per year using the
    market's funding interval. `sustained: N` waits until the rate was above it in N distinct
    funding intervals in a row; `window` acts only that close before the next funding time.
    """

    kind: Literal["funding_threshold"]
    threshold: Annotated[Percent, in_range("threshold", Decimal(0), Decimal(100))]
    annualised: bool = False
    rate: RateSource = RateSource.CURRENT
    sustained: int = Field(default=1, ge=1, le=1000)
    window: Duration | None = None
    action: FundingAction = FundingAction.CLOSE
    reduce: Fraction | None = None

    @model_validator(mode="after")
    def _reduce_given(self) -> FundingThresholdRule:
        if self.action is FundingAction.REDUCE and self.reduce is None:
            raise ValueError("action: reduce needs `reduce`, the fraction to cut, e.g. '50%'")
        if self.action is FundingAction.CLOSE and self.reduce is not None:
            raise ValueError("`reduce` only goes with action: reduce (action: close closes all)")
        if self.window is not None and self.window <= timedelta(0):
            raise ValueError("window must be positive")
        return self


class LeverageCapRule(OrderedRule):
    """Cap account gross leverage (gross notional ÷ equity) and/or each position's leverage
    (notional ÷ its pool's equity); on a breach reduce to `restore_to` of the cap (hysteresis:
    '90%' leaves a 10 % margin before the next cut; the default 100 % restores the cap)."""

    kind: Literal["leverage_cap"]
    account: PositiveLeverage | None = None
    position: PositiveLeverage | None = None
    restore_to: Fraction = Decimal(1)

    @model_validator(mode="after")
    def _some_cap(self) -> LeverageCapRule:
        if self.account is None and self.position is None:
            raise ValueError("give `account`, `position` or both (e.g. account: 5x)")
        return self


class ExposureMeasure(StrEnum):
    GROSS = "gross"  # sum of |notional|
    NET = "net"  # longs minus shorts


class ExposureScope(StrEnum):
    TOTAL = "total"
    PER_ASSET = "per_asset"  # grouped by the market's base asset


class ExposureCapRule(OrderedRule):
    """Cap gross or net notional, in total or per base asset, as an amount or % of equity."""

    kind: Literal["exposure_cap"]
    measure: ExposureMeasure = ExposureMeasure.GROSS
    scope: ExposureScope = ExposureScope.TOTAL
    limit: PositiveMoney | None = None
    limit_pct_of_equity: (
        Annotated[Percent, in_range("limit_pct_of_equity", Decimal(0), Decimal(1000))] | None
    ) = None
    restore_to: Fraction = Decimal(1)  # on a breach reduce to this share of the cap (hysteresis)

    @model_validator(mode="after")
    def _one_limit(self) -> ExposureCapRule:
        if (self.limit is None) == (self.limit_pct_of_equity is None):
            raise ValueError("give exactly one of `limit` (e.g. '50000') or `limit_pct_of_equity`")
        return self
