"""Plain-value helpers for engine tests: a policy set from rule dicts, evaluation on paper rules."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from guard.core.domain import AccountSnapshot, Decision, GuardState, PositionKey
from guard.core.engine import evaluate
from guard.core.policy.schema import PolicyFile, PolicySet
from guard.core.venues.paper import RULES


def policies(*rules: dict[str, Any]) -> PolicySet:
    numbered = [{"id": f"rule-{i}", **r} if "id" not in r else r for i, r in enumerate(rules)]
    return PolicySet.of([("test", PolicyFile.model_validate({"version": 1, "rules": numbered}))])


def run(
    snapshot: AccountSnapshot,
    *rules: dict[str, Any],
    state: GuardState | None = None,
    at: datetime | None = None,
) -> Decision:
    return evaluate(snapshot, policies(*rules), state or GuardState(), RULES, at)


def reduced(decision: Decision) -> dict[PositionKey, Decimal]:
    return {r.key: r.quantity for r in decision.reductions}
