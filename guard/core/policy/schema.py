"""Policy file schema (version 1): pydantic models discriminated by `kind`, strict and frozen; pure."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from guard.core.domain import Execution, MarginMode, OrderType, Position, frozen_map
from guard.core.policy.units import Duration, Leverage, Money, Percent, parse_percent, to_decimal
from guard.core.stress import Shock

RULE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SelectorSide(StrEnum):
    ANY = "any"
    LONG = "long"
    SHORT = "short"


class SelectorMode(StrEnum):
    ANY = "any"
    CROSS = "cross"
    ISOLATED = "isolated"


class Selector(Strict):
    """Which accounts and positions a rule applies to (glob patterns, case-sensitive)."""

    accounts: tuple[str, ...] = ("*",)
    symbols: tuple[str, ...] = ("*",)
    margin_mode: SelectorMode = SelectorMode.ANY
    side: SelectorSide = SelectorSide.ANY

    def matches_account(self, account: str) -> bool:
        return any(fnmatchcase(account, pattern) for pattern in self.accounts)

    def matches_position(self, position: Position) -> bool:
        if self.symbols != ("*",) and not any(
            fnmatchcase(position.symbol, pattern) for pattern in self.symbols
        ):
            return False
        if self.margin_mode is not SelectorMode.ANY and position.margin_mode != MarginMode(
            self.margin_mode.value
        ):
            return False
        return self.side is SelectorSide.ANY or position.side.value == self.side.value


class ExecutionOptions(Strict):
    """How the rule's reductions are executed."""

    type: OrderType = OrderType.MARKET
    max_slippage: Percent = Decimal("0.01")
    max_slice_notional: Money | None = None

    @field_validator("max_slippage")
    @classmethod
    def _slippage_in_range(cls, value: Decimal) -> Decimal:
        if not Decimal(0) < value <= Decimal("0.5"):
            raise ValueError("max_slippage must be above 0% and at most 50%")
        return value

    @field_validator("max_slice_notional")
    @classmethod
    def _slice_positive(cls, value: Decimal | None) -> Decimal | None:
        if value is not None and value <= 0:
            raise ValueError("max_slice_notional must be positive")
        return value

    def to_domain(self) -> Execution:
        return Execution(self.type, self.max_slippage, self.max_slice_notional)


class RuleBase(Strict):
    """Fields every rule kind has."""

    id: str
    description: str = ""
    enabled: bool = True
    select: Selector = Selector()
    execution: ExecutionOptions = ExecutionOptions()
    cooldown: Duration = timedelta(0)

    @field_validator("id")
    @classmethod
    def _id_format(cls, value: str) -> str:
        if not RULE_ID.match(value):
            raise ValueError(
                "rule id must start with a letter or digit and hold only letters, digits, "
                "'_', '.' or '-' (at most 64 characters)"
            )
        return value


def _in_range(
    what: str,
    low: Decimal | None,
    high: Decimal | None,
    *,
    low_open: bool = True,
    percent: bool = True,
) -> Any:
    """An AfterValidator keeping a Decimal in (low, high] (or [low, high]) with a plain message."""

    show = _show if percent else _plain

    def check(value: Decimal) -> Decimal:
        too_low = low is not None and (value <= low if low_open else value < low)
        too_high = high is not None and value > high
        if too_low or too_high:
            lo = ""
            if low is not None:
                lo = f"above {show(low)}" if low_open else f"at least {show(low)}"
            hi = "" if high is None else f"at most {show(high)}"
            allowed = " and ".join(part for part in (lo, hi) if part)
            raise ValueError(f"{what} must be {allowed}, got {show(value)}")
        return value

    return AfterValidator(check)


def _show(value: Decimal) -> str:
    return f"{(value * 100).normalize():f}%"


def _plain(value: Decimal) -> str:
    return f"{value.normalize():f}"


Fraction = Annotated[Percent, _in_range("this percentage", Decimal(0), Decimal(1))]
PositiveMoney = Annotated[Money, _in_range("this amount", Decimal(0), None, percent=False)]
PositiveLeverage = Annotated[Leverage, AfterValidator(lambda v: _positive_leverage(v))]


def _positive_leverage(value: Decimal) -> Decimal:
    if value <= 0 or value > 1000:
        raise ValueError(f"leverage must be above 0x and at most 1000x, got {value}x")
    return value


class LadderMetric(StrEnum):
    """Metrics an exit ladder can watch, and in which direction each gets worse."""

    LIQUIDATION_DISTANCE = "liquidation_distance"  # % move of mark to liquidation; lower is worse
    MARGIN_RATIO = "margin_ratio"  # maintenance ÷ equity of the pool; higher is worse
    UNREALIZED_LOSS_PCT = "unrealized_loss_pct"  # loss ÷ entry notional; higher is worse
    DRAWDOWN_PCT = "drawdown_pct"  # account equity below its peak; higher is worse
    MARK_PRICE = "mark_price"  # direction must be given

    @property
    def is_percentage(self) -> bool:
        return self is not LadderMetric.MARK_PRICE


class Direction(StrEnum):
    BELOW = "below"  # the metric gets worse as it falls: a band fires at or below its trigger
    ABOVE = "above"  # the metric gets worse as it rises: a band fires at or above its trigger


DEFAULT_DIRECTION = {
    LadderMetric.LIQUIDATION_DISTANCE: Direction.BELOW,
    LadderMetric.MARGIN_RATIO: Direction.ABOVE,
    LadderMetric.UNREALIZED_LOSS_PCT: Direction.ABOVE,
    LadderMetric.DRAWDOWN_PCT: Direction.ABOVE,
}


def _parse_level(raw: Any) -> Decimal:
    if isinstance(raw, str) and raw.strip().endswith("%"):
        return parse_percent(raw)
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

    @model_validator(mode="after")
    def _coherent(self) -> ExitLadderRule:
        direction = self.effective_direction
        if self.metric.is_percentage:
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
        if (
            isinstance(data, dict)
            and data.get("metric") == "mark_price"
            and not data.get("direction")
        ):
            raise ValueError("a mark_price ladder needs direction: below or above")
        return data


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
    """A rule that picks positions to reduce by `order` (and `priority` for order: priority)."""

    order: ReductionOrder = ReductionOrder.HIGHEST_LEVERAGE
    priority: tuple[str, ...] = ()

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
                f"{_show(self.floor)}, restore {_show(self.restore)})"
            )
        if self.metric is BufferMetric.MARGIN_RATIO and not self.restore < self.floor:
            raise ValueError(
                f"restore must be below floor for margin_ratio (got floor "
                f"{_show(self.floor)}, restore {_show(self.restore)})"
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
    threshold: Annotated[Percent, _in_range("threshold", Decimal(0), Decimal(100))]
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
    (notional ÷ its pool's equity); reduce back under the cap."""

    kind: Literal["leverage_cap"]
    account: PositiveLeverage | None = None
    position: PositiveLeverage | None = None

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
        Annotated[Percent, _in_range("limit_pct_of_equity", Decimal(0), Decimal(1000))] | None
    ) = None

    @model_validator(mode="after")
    def _one_limit(self) -> ExposureCapRule:
        if (self.limit is None) == (self.limit_pct_of_equity is None):
            raise ValueError("give exactly one of `limit` (e.g. '50000') or `limit_pct_of_equity`")
        return self


class ShockSpec(Strict):
    """One shock: `move` for every symbol matching `symbols`, or for `anchor` with others by beta."""

    name: str = ""
    move: Annotated[Percent, _in_range("move", Decimal(-1), Decimal(10), low_open=False)]
    symbols: tuple[str, ...] = ("*",)
    anchor: str | None = None
    betas: dict[str, Annotated[Decimal, BeforeValidator(lambda raw: to_decimal(raw, "beta"))]] = {}
    default_beta: Annotated[Decimal, BeforeValidator(lambda raw: to_decimal(raw, "beta"))] = (
        Decimal(0)
    )

    @field_validator("move")
    @classmethod
    def _nonzero(cls, value: Decimal) -> Decimal:
        if value == 0:
            raise ValueError("move must not be 0% (a shock that moves nothing tests nothing)")
        return value

    def to_shock(self) -> Shock:
        label = self.name or f"{'all' if self.anchor is None else self.anchor} {_show(self.move)}"
        return Shock(
            label,
            self.move,
            self.symbols,
            self.anchor,
            frozen_map(dict(sorted(self.betas.items()))),
            self.default_beta,
        )


class StressOrder(StrEnum):
    PRO_RATA = "pro_rata"
    PRIORITY = "priority"


class StressRule(RuleBase):
    """Survive every listed shock with `margin_of_safety`; else reduce the minimal amount."""

    kind: Literal["stress"]
    shocks: tuple[ShockSpec, ...] = Field(min_length=1)
    margin_of_safety: Annotated[
        Percent, _in_range("margin_of_safety", Decimal(0), Decimal(10), low_open=False)
    ] = Decimal("0.1")
    order: StressOrder = StressOrder.PRO_RATA
    priority: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _priority_given(self) -> StressRule:
        if self.order is StressOrder.PRIORITY and not self.priority:
            raise ValueError("order: priority needs a `priority` list of symbol patterns")
        return self


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
    rearm: Annotated[Percent, _in_range("rearm", Decimal(0), Decimal(1), low_open=False)]

    @model_validator(mode="after")
    def _coherent(self) -> DrawdownRule:
        if self.action is DrawdownAction.REDUCE and self.reduce is None:
            raise ValueError("action: reduce needs `reduce`, e.g. '50%'")
        if self.action is DrawdownAction.FLATTEN and self.reduce is not None:
            raise ValueError("`reduce` only goes with action: reduce (flatten closes all)")
        if not self.rearm < self.max_drawdown:
            raise ValueError(
                f"rearm must be below max_drawdown so the episode can end (hysteresis); got "
                f"rearm {_show(self.rearm)}, max_drawdown {_show(self.max_drawdown)}"
            )
        if not timedelta(0) < self.window <= MAX_PEAK_WINDOW:
            raise ValueError("window must be positive and at most 30d (the peak history kept)")
        return self


MAX_PEAK_WINDOW = timedelta(days=30)

Rule = Annotated[
    ExitLadderRule
    | StaleDataRule
    | BufferFloorRule
    | FundingThresholdRule
    | LeverageCapRule
    | ExposureCapRule
    | StressRule
    | DrawdownRule,
    Field(discriminator="kind"),
]

KINDS = (
    "exit_ladder",
    "buffer_floor",
    "funding_threshold",
    "leverage_cap",
    "exposure_cap",
    "stress",
    "drawdown",
    "stale_data",
)


class PolicyFile(Strict):
    """One policy file: a schema version and a list of rules with unique ids."""

    version: Literal[1]
    name: str = ""
    description: str = ""
    rules: tuple[Rule, ...]

    @field_validator("rules")
    @classmethod
    def _unique_ids(cls, rules: tuple[RuleBase, ...]) -> tuple[RuleBase, ...]:
        if not rules:
            raise ValueError("a policy file needs at least one rule")
        seen: set[str] = set()
        for rule in rules:
            if rule.id in seen:
                raise ValueError(f"rule id {rule.id!r} is used twice; ids must be unique")
            seen.add(rule.id)
        return rules


@dataclass(frozen=True, slots=True)
class PolicySet:
    """Every loaded policy file, with a fingerprint that goes into each audit row."""

    files: tuple[tuple[str, PolicyFile], ...]

    @property
    def rules(self) -> tuple[RuleBase, ...]:
        return tuple(rule for _, policy in self.files for rule in policy.rules)

    @property
    def fingerprint(self) -> str:
        canonical = json.dumps(
            [policy.model_dump(mode="json") for _, policy in self.files],
            sort_keys=True,
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    @classmethod
    def of(cls, files: Sequence[tuple[str, PolicyFile]]) -> PolicySet:
        ids: dict[str, str] = {}
        for source, policy in files:
            for rule in policy.rules:
                if rule.id in ids:
                    raise ValueError(
                        f"rule id {rule.id!r} in {source} is also defined in {ids[rule.id]}"
                    )
                ids[rule.id] = source
        return cls(tuple(files))
