"""The stress rule function; pure: (rule, context) -> RuleOutcome. Requests the minimal reduction
surviving each failing shock, the largest per position over all shocks, never above the size."""

from __future__ import annotations

from decimal import Decimal

from guard.core.domain import ZERO, Finding, PositionKey, Severity
from guard.core.policy.reductions import findings_for, ordered, pct, selected
from guard.core.policy.rules import RuleContext, RuleOutcome, rule_kind
from guard.core.policy.schema_levels import ReductionOrder
from guard.core.policy.schema_stress import StressOrder, StressRule
from guard.core.stress import Order, reduced, stress_each, survive


def stress_rule(rule: StressRule, ctx: RuleContext) -> RuleOutcome:
    """For each shock the account would not survive with the margin of safety, request the minimal
    reduction that survives it; the largest per position over all shocks is requested."""
    chosen = selected(rule, ctx)
    if rule.order is StressOrder.PRIORITY:
        chosen = ordered(chosen, ctx, ReductionOrder.PRIORITY, rule.priority)
    mode: Order = "priority" if rule.order is StressOrder.PRIORITY else "pro_rata"
    keys = [p.key for p in chosen]
    findings: list[Finding] = []
    wanted: dict[PositionKey, Decimal] = {}
    reasons: list[str] = []
    shocks = [spec.to_shock() for spec in rule.shocks]
    # every shock's stress before any reduction, the positions read once for all of them
    befores = stress_each(ctx.snapshot, shocks, ctx.venue, rule.margin_of_safety)
    for shock, before in zip(shocks, befores, strict=True):
        solution = survive(
            ctx.snapshot, shock, ctx.venue, rule.margin_of_safety, keys, mode, before
        )
        if solution.before.survives:
            continue
        failing = [p for p in solution.before.pools if p.liquidated]
        pools = ", ".join(
            f"{p.pool} pool (equity {p.equity.quantize(Decimal('0.01'))} vs maintenance "
            f"{p.maintenance_margin.quantize(Decimal('0.01'))})"
            for p in failing
        )
        outcome = (
            "survives"
            if solution.survives
            else "still fails even after closing every selected position"
        )
        reasons.append(
            f"shock '{shock.name}' would liquidate the {pools} with a "
            f"{pct(rule.margin_of_safety)} margin of safety; the minimal reduction {outcome}"
        )
        for key, quantity in solution.reductions.items():
            wanted[key] = max(wanted.get(key, ZERO), quantity)
        if not solution.survives:
            findings.append(
                Finding(
                    rule.id,
                    rule_kind(rule),
                    Severity.CRITICAL,
                    reasons[-1],
                    metric="stress",
                )
            )
    if wanted:
        # A reduction good for one shock may not be enough for another: check the union.
        after = reduced(ctx.snapshot, wanted)
        still = [
            result.shock.name
            for result in stress_each(after, shocks, ctx.venue, rule.margin_of_safety)
            if not result.survives
        ]
        why = "; ".join(reasons) + (
            f"; still failing together: {', '.join(still)}" if still else ""
        )
        findings += findings_for(
            rule, ctx, wanted, why, metric="stress", value=None, threshold=rule.margin_of_safety
        )
    return RuleOutcome(tuple(findings))
