"""What every policy rule model shares: the strict frozen pydantic base, the selector, execution
options, RuleBase and range-checked field types with plain error messages; pure."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, field_validator

from guard.core.domain import Execution, MarginMode, OrderType, Position
from guard.core.policy.units import Duration, Leverage, Money, Percent

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
        if self.accounts == ("*",):  # the default: "*" matches every name
            return True
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
    alert_only: bool = False  # findings that would reduce become alerts: this rule never orders

    @field_validator("id")
    @classmethod
    def _id_format(cls, value: str) -> str:
        if not RULE_ID.match(value):
            raise ValueError(
                "rule id must start with a letter or digit and hold only letters, digits, "
                "'_', '.' or '-' (at most 64 characters)"
            )
        return value


def in_range(
    what: str,
    low: Decimal | None,
    high: Decimal | None,
    *,
    low_open: bool = True,
    percent: bool = True,
) -> Any:
    """An AfterValidator keeping a Decimal in (low, high] (or [low, high]) with a plain message."""

    show = show_percent if percent else _plain

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


def show_percent(value: Decimal) -> str:
    return f"{(value * 100).normalize():f}%"


def _plain(value: Decimal) -> str:
    return f"{value.normalize():f}"


Fraction = Annotated[Percent, in_range("this percentage", Decimal(0), Decimal(1))]
PositiveMoney = Annotated[Money, in_range("this amount", Decimal(0), None, percent=False)]
PositiveLeverage = Annotated[Leverage, AfterValidator(lambda v: _positive_leverage(v))]


def _positive_leverage(value: Decimal) -> Decimal:
    if value <= 0 or value > 1000:
        raise ValueError(f"leverage must be above 0x and at most 1000x, got {value}x")
    return value
