"""Each policy rule in plain words (for `guard check`); pure, no I/O."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from guard.core.domain import OrderType
from guard.core.policy.schema_fields import RuleBase, SelectorMode, SelectorSide
from guard.core.policy.schema_ladders import (
    Direction,
    DrawdownAction,
    DrawdownRule,
    ExitLadderRule,
    LadderMetric,
    TriggerUnits,
)
from guard.core.policy.schema_levels import (
    BufferFloorRule,
    BufferMetric,
    ExposureCapRule,
    FundingAction,
    FundingThresholdRule,
    LeverageCapRule,
    StaleDataRule,
)
from guard.core.policy.schema_stress import StressRule
from guard.core.policy.units import format_duration, format_percent
from guard.core.policy.vol_metrics import describe_level


def _p(value: Decimal) -> str:
    return format_percent(value)


def _scope(rule: RuleBase) -> str:
    select = rule.select
    parts: list[str] = []
    if select.accounts != ("*",):
        parts.append(f"accounts {', '.join(select.accounts)}")
    if select.symbols != ("*",):
        parts.append(f"symbols {', '.join(select.symbols)}")
    if select.margin_mode is not SelectorMode.ANY:
        parts.append(f"{select.margin_mode.value} positions")
    if select.side is not SelectorSide.ANY:
        parts.append(f"{select.side.value} positions")
    return f" (only {'; '.join(parts)})" if parts else ""


def _execution(rule: RuleBase) -> str:
    ex = rule.execution
    style = "market orders" if ex.type is OrderType.MARKET else "limit IOC orders"
    text = f"{style}, at most {_p(ex.max_slippage)} from mark"
    if ex.max_slice_notional is not None:
        text += f", slices of at most {ex.max_slice_notional}"
    if rule.cooldown.total_seconds() > 0:
        text += f", cooldown {format_duration(rule.cooldown)}"
    return text


def _order(order: str) -> str:
    return "pro rata across them" if order == "pro_rata" else f"{order.replace('_', ' ')} first"


def _level(rule: ExitLadderRule, value: Decimal) -> str:
    if rule.units is TriggerUnits.VOLATILITY:
        return describe_level(rule, value)  # "3 atr": multiples of the volatility measure
    return _p(value) if rule.metric.is_percentage else f"{value}"


def _no_dust(restore_to: Decimal, floor: Decimal | None) -> str:
    parts = [] if restore_to == 1 else [f"down to {_p(restore_to)} of the cap"]
    if floor is not None:
        parts.append(f"no order under {floor} of notional unless it closes the position")
    return "" if not parts else f" ({'; '.join(parts)})"


def _candles(rule: ExitLadderRule) -> str:
    spec = rule.volatility
    if spec is None or not rule.needs_candles:
        return ""
    over = f"{spec.measure.value} over {spec.bars} closed {format_duration(spec.timeframe)} bars"
    gate = ""
    if rule.act_within is not None:
        unit = "atr" if spec.measure.value == "atr" else "vol"
        gate = (
            f"; a band acts only while the liquidation distance is within "
            f"{rule.act_within.normalize():f} {unit} (open without enough candles)"
        )
    if rule.units is TriggerUnits.PERCENT and rule.metric not in (
        LadderMetric.VOLATILITY,
        LadderMetric.PULLBACK,
    ):
        return f" ({over} of the mark{gate})"
    return f" ({over} of the mark; holds without enough candles{gate})"


def describe(rule: RuleBase) -> str:
    """One paragraph saying what the rule does, with every number it uses."""
    head = f"{rule.id}{'' if rule.enabled else ' [disabled]'}"
    body = _body(rule)
    tail = "" if isinstance(rule, StaleDataRule) else f" Orders: {_execution(rule)}."
    return f"{head}: {body}{_scope(rule)}.{tail}"


def _settle(rule: ExitLadderRule) -> str:
    if rule.rearm_after <= timedelta(0):
        return ""
    return f" and stays there for {format_duration(rule.rearm_after)}"


def _body(rule: RuleBase) -> str:
    match rule:
        case ExitLadderRule():
            direction = rule.effective_direction
            word = "falls to" if direction is Direction.BELOW else "rises to"
            bands = "; ".join(
                f"when {rule.metric.value} {word} {_level(rule, b.trigger)} reduce {_p(b.reduce)}"
                for b in rule.bands
            )
            return (
                f"exit ladder per position — {bands}; fractions are of the size when the episode "
                f"began, each band fires once per episode, re-armed when {rule.metric.value} "
                f"recovers past {_level(rule, rule.rearm)}{_settle(rule)}{_candles(rule)}"
            )
        case StaleDataRule():
            return (
                f"alert and place no order when the snapshot is older than "
                f"{format_duration(rule.max_age)}"
            )
        case BufferFloorRule():
            if rule.metric is BufferMetric.FREE_COLLATERAL_PCT:
                what = (
                    f"keep free collateral at or above {_p(rule.floor)} of cross equity; on a "
                    f"breach reduce until it is back to {_p(rule.restore)}"
                )
            else:
                what = (
                    f"keep the margin ratio at or below {_p(rule.floor)}; on a breach reduce "
                    f"until it is back to {_p(rule.restore)}"
                )
            return (
                f"{what}, {_order(rule.order.value)}; an isolated position in "
                f"breach of its own margin is cut by {_p(rule.isolated_reduce)}"
            )
        case FundingThresholdRule():
            basis = "a year" if rule.annualised else "per funding interval"
            act = (
                "close"
                if rule.action is FundingAction.CLOSE
                else f"cut {_p(rule.reduce or Decimal(0))} of"
            )
            extra = ""
            if rule.sustained > 1:
                extra += f" for {rule.sustained} intervals in a row"
            if rule.window is not None:
                extra += f", within {format_duration(rule.window)} before funding"
            return (
                f"{act} positions paying {rule.rate.value} funding above {_p(rule.threshold)} "
                f"{basis}{extra}"
            )
        case LeverageCapRule():
            caps = []
            if rule.account is not None:
                caps.append(f"account gross leverage at most {rule.account}x")
            if rule.position is not None:
                caps.append(f"each position at most {rule.position}x of its pool's equity")
            return (
                f"keep {' and '.join(caps)}; reduce back under, {_order(rule.order.value)}"
                f"{_no_dust(rule.restore_to, rule.min_order_notional)}"
            )
        case ExposureCapRule():
            cap = (
                f"{rule.limit}"
                if rule.limit is not None
                else f"{_p(rule.limit_pct_of_equity or Decimal(0))} of equity"
            )
            scope = "per base asset" if rule.scope.value == "per_asset" else "in total"
            return (
                f"keep {rule.measure.value} notional {scope} at most {cap}; reduce the excess, "
                f"{_order(rule.order.value)}{_no_dust(rule.restore_to, rule.min_order_notional)}"
            )
        case StressRule():
            shocks = ", ".join(s.to_shock().name for s in rule.shocks)
            return (
                f"survive each shock ({shocks}) with a {_p(rule.margin_of_safety)} margin of "
                f"safety; otherwise reduce the minimal amount ({_order(rule.order.value)})"
            )
        case DrawdownRule():
            act = (
                "flatten"
                if rule.action is DrawdownAction.FLATTEN
                else f"cut {_p(rule.reduce or Decimal(0))} of"
            )
            return (
                f"when equity is {_p(rule.max_drawdown)} below its {format_duration(rule.window)} "
                f"peak, {act} every selected position once per episode; re-armed at "
                f"{_p(rule.rearm)}"
            )
    return f"rule of kind {type(rule).__name__}"
