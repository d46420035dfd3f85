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

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from guard.domain import Execution, MarginMode, OrderType, Position
from guard.policy.units import Duration, Money, Percent, parse_percent, to_decimal

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
        if not any(fnmatchcase(position.symbol, pattern) for pattern in self.symbols):
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
    reduce: Percent

    @field_validator("reduce")
    @classmethod
    def _reduce_positive(cls, value: Decimal) -> Decimal:
        if value <= 0:
            raise ValueError("reduce must be above 0% (a band that reduces nothing does nothing)")
        return value


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


Rule = Annotated[ExitLadderRule | StaleDataRule, Field(discriminator="kind")]


class PolicyFile(Strict):
    """One policy file: a schema version and a list of rules with unique ids."""

    version: Literal[1]
    name: str = ""
    description: str = ""
    rules: tuple[Rule, ...] = Field(min_length=1)

    @field_validator("rules")
    @classmethod
    def _unique_ids(cls, rules: tuple[RuleBase, ...]) -> tuple[RuleBase, ...]:
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
