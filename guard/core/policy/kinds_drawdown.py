"""The drawdown rule function; pure: (rule, context) -> RuleOutcome, now is snapshot.taken_at.
One cut (or flatten) per account-level episode, each position's step tied to that episode."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from guard.core.domain import ONE, ZERO, Finding, LadderEpisode, PositionKey, Severity, frozen_map
from guard.core.policy.reductions import ceil_step, findings_for, pct, selected
from guard.core.policy.rules import RuleContext, RuleOutcome, rule_kind
from guard.core.policy.schema_ladders import DrawdownAction, DrawdownRule


def account_episode_key(rule_id: str) -> str:
    """State key of an account-level episode (not pruned with positions)."""
    return f"{rule_id}|@account"


def window_drawdown(ctx: RuleContext, window: timedelta) -> tuple[Decimal | None, Decimal | None]:
    """(peak equity within `window`, drawdown from it) — None when there is no positive peak."""
    now = ctx.snapshot.taken_at
    equity = ctx.metrics.equity
    peak = max((e for t, e in ctx.peaks if now - t <= window), default=equity)
    peak = max(peak, equity)
    if peak <= ZERO:
        return None, None
    return peak, max((peak - equity) / peak, ZERO)


def drawdown(rule: DrawdownRule, ctx: RuleContext) -> RuleOutcome:
    """Once per episode: cut `reduce` of every selected position (or flatten) when equity has
    fallen `max_drawdown` below its peak within `window`; re-arm at or below `rearm`."""
    key = account_episode_key(rule.id)
    peak, value = window_drawdown(ctx, rule.window)
    episode = ctx.state.episodes.get(key)
    if value is None or peak is None:
        return RuleOutcome()
    if episode is not None and value <= rule.rearm:
        note = Finding(
            rule.id,
            rule_kind(rule),
            Severity.INFO,
            f"drawdown {pct(value)} is back at or below the re-arm level {pct(rule.rearm)}: "
            f"episode {episode.number} ends",
            metric="drawdown_pct",
            value=value,
            threshold=rule.rearm,
        )
        return RuleOutcome((note,), episodes=frozen_map({key: None}))
    if value < rule.max_drawdown or episode is not None:
        return RuleOutcome()
    last = ctx.state.last_fired.get(key)
    now = ctx.snapshot.taken_at
    if last is not None and now - last < rule.cooldown:
        return RuleOutcome()
    number = ctx.state.episode_counters.get(key, 0) + 1
    fraction = ONE if rule.action is DrawdownAction.FLATTEN else (rule.reduce or ONE)
    quantities: dict[PositionKey, Decimal] = {}
    for position in selected(rule, ctx):
        step = ctx.snapshot.market(position.symbol).amount_step
        quantities[position.key] = ceil_step(position.quantity * fraction, step, position.quantity)
    verb = "flatten" if rule.action is DrawdownAction.FLATTEN else f"cut {pct(fraction)} of"
    why = (
        f"equity {ctx.metrics.equity.quantize(Decimal('0.01'))} is {pct(value)} below its "
        f"{rule.window} peak {peak.quantize(Decimal('0.01'))} (limit {pct(rule.max_drawdown)}, "
        f"episode {number}): {verb} every selected position"
    )
    findings = findings_for(
        rule,
        ctx,
        quantities,
        why,
        metric="drawdown_pct",
        value=value,
        threshold=rule.max_drawdown,
        level=False,
    )
    # one step per position, all tied to this episode
    unique = [
        _with_step(f, f"{key}|e{number}|{f.symbol}|{f.side.value if f.side else ''}")
        for f in findings
    ]
    return RuleOutcome(
        tuple(unique),
        episodes=frozen_map({key: LadderEpisode(number, ZERO, frozenset({0}))}),
        episode_counters=frozen_map({key: number}),
        fired_at=frozen_map({key: now}),
    )


def _with_step(finding: Finding, step: str) -> Finding:
    request = finding.request
    if request is None:
        return finding
    return replace(finding, request=replace(request, step=step))
