"""The funding_threshold rule function; pure: (rule, context) -> RuleOutcome, now is taken_at.
A close restates its target every tick; a cut is one step per funding interval, never repeated."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from guard.core.domain import ONE, Finding, Position, Severity, Side, frozen_map
from guard.core.policy.reductions import ceil_step, findings_for, pct, selected
from guard.core.policy.rules import RuleContext, RuleOutcome, rule_kind
from guard.core.policy.schema_fields import RuleBase
from guard.core.policy.schema_levels import FundingAction, FundingThresholdRule, RateSource

YEAR = timedelta(days=365)
_SIDE_TEXT = {side: side.value for side in Side}  # Side.value without the enum property call


def funding_interval_index(moment: datetime, interval: timedelta) -> int:
    """The number of the funding interval `moment` falls in, counted from the Unix epoch."""
    return int(moment.timestamp() // interval.total_seconds())


def funding_threshold(rule: FundingThresholdRule, ctx: RuleContext) -> RuleOutcome:
    """Cut positions paying funding above the threshold (optionally sustained / in a window)."""
    findings: list[Finding] = []
    counters: dict[str, int | None] = {}
    fired: dict[str, datetime] = {}
    now = ctx.snapshot.taken_at
    snapshot = ctx.snapshot
    current = rule.rate is RateSource.CURRENT
    per_year: dict[timedelta, Decimal] = {}  # Decimal(YEAR / interval), once per interval
    indices: dict[timedelta, int] = {}  # funding_interval_index(now, interval), once per interval
    for position in selected(rule, ctx):
        data = snapshot.market_data.get(position.symbol)
        rate = None
        if data is not None:
            rate = data.funding_rate if current else data.predicted_funding_rate
        side = position.side
        key = f"{rule.id}|{position.symbol}|{_SIDE_TEXT[side]}"
        if rate is None:
            continue
        interval = snapshot.market(position.symbol).funding_interval
        paid = (1 if side is Side.LONG else -1) * rate  # per interval; positive: this one pays
        if rule.annualised:
            year = per_year.get(interval)
            if year is None:
                year = per_year[interval] = Decimal(YEAR / interval)
            value = paid * year
        else:
            value = paid
        index = indices.get(interval)
        if index is None:
            index = indices[interval] = funding_interval_index(now, interval)
        if value <= rule.threshold:
            counters[f"{key}|streak"] = None
            counters[f"{key}|last"] = None
            continue
        basis = "a year" if rule.annualised else f"per {interval}"
        streak = ctx.state.counters.get(f"{key}|streak", 0)
        last = ctx.state.counters.get(f"{key}|last")
        if last != index:
            streak = streak + 1 if last == index - 1 else 1
        counters[f"{key}|streak"] = streak
        counters[f"{key}|last"] = index
        shown = f"{rule.rate.value} funding {pct(value)} {basis} is above {pct(rule.threshold)}"
        if streak < rule.sustained:
            findings.append(
                _note(rule, position, f"{shown} ({streak} of {rule.sustained} intervals)", value)
            )
            continue
        next_time = data.next_funding_time if data is not None else None
        if next_time is None:
            next_time = datetime.fromtimestamp(
                (index + 1) * interval.total_seconds(), tz=now.tzinfo
            )
        if rule.window is not None and next_time - now > rule.window:
            findings.append(
                _note(
                    rule,
                    position,
                    f"{shown}; waiting until {rule.window} before {next_time}",
                    value,
                )
            )
            continue
        if rule.action is FundingAction.CLOSE:
            quantity, level, step = position.quantity, True, None
        else:
            assert rule.reduce is not None
            if ctx.state.counters.get(f"{key}|cut") == index:
                continue  # this interval's cut is already made
            step_size = ctx.snapshot.market(position.symbol).amount_step
            quantity = ceil_step(position.quantity * rule.reduce, step_size, position.quantity)
            level, step = False, f"{key}|i{index}"
            counters[f"{key}|cut"] = index
            fired[key] = now
        verb = "close" if rule.action is FundingAction.CLOSE else f"cut {pct(rule.reduce or ONE)}"
        findings += findings_for(
            rule,
            ctx,
            {position.key: quantity},
            f"{shown}: {verb}",
            metric="funding",
            value=value,
            threshold=rule.threshold,
            level=level,
            step=step,
        )
    return RuleOutcome(tuple(findings), counters=frozen_map(counters), fired_at=frozen_map(fired))


def _note(rule: RuleBase, position: Position, reason: str, value: Decimal) -> Finding:
    return Finding(
        rule.id,
        rule_kind(rule),
        Severity.WARNING,
        reason,
        position.symbol,
        position.side,
        "funding",
        value,
    )
