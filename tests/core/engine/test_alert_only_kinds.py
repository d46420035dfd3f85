"""Engine: `alert_only` on every rule kind that can order — the same breach that reduces without
it gives no reduction and a rule_alert with it (a warning before action, for any rule)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from guard.core.domain import GuardState
from guard.core.policy.schema import KINDS
from tests.builders import T0, position, snapshot
from tests.core.engine.helpers import reduced, run

# 1 BTC long at 60000 on a 2,000 wallet (30x), the mark down to 58,800 (equity 800); the funding
# rate is 1 % per interval, paid by the long
RULES: dict[str, dict[str, Any]] = {
    "exit_ladder": {
        "kind": "exit_ladder",
        "metric": "liquidation_distance",
        "bands": [{"trigger": "5%", "reduce": "25%"}],
        "rearm": "10%",
    },
    "buffer_floor": {"kind": "buffer_floor", "metric": "margin_ratio", "floor": "30%",
                     "restore": "20%"},
    "funding_threshold": {"kind": "funding_threshold", "threshold": "0.1%"},
    "leverage_cap": {"kind": "leverage_cap", "account": "5x"},
    "exposure_cap": {"kind": "exposure_cap", "limit": "10000"},
    "stress": {"kind": "stress", "shocks": [{"move": "-10%"}]},
    "drawdown": {"kind": "drawdown", "max_drawdown": "20%", "rearm": "5%", "action": "flatten"},
}  # fmt: skip


def breach(rule: dict[str, Any], alert_only: bool) -> Any:
    first = snapshot([position(quantity="1", entry="60000")], wallet="2000", at=T0)
    seen = run(first, {"kind": "stale_data", "max_age": "1h"}).next_state  # equity peak 2000
    state = GuardState(equity_peaks=seen.equity_peaks)
    later = snapshot(
        [position(quantity="1", entry="60000", mark="58800")],
        wallet="2000",
        at=T0 + timedelta(minutes=1),
        funding={"BTC/USDT:USDT": "0.01"},
    )
    return run(later, {**rule, "alert_only": alert_only}, state=state)


@pytest.mark.parametrize("kind", sorted(RULES))
def test_alert_only_when_any_kind_breaches_then_alerts_and_orders_nothing(kind: str) -> None:
    assert reduced(breach(RULES[kind], alert_only=False)), f"{kind} should breach here"
    decision = breach(RULES[kind], alert_only=True)
    assert reduced(decision) == {}
    assert "rule_alert" in [a.kind for a in decision.alerts]
    assert all(f.request is None for f in decision.findings)


def test_alert_only_cases_when_listing_kinds_then_every_ordering_kind_is_covered() -> None:
    assert set(RULES) == set(KINDS) - {"stale_data"}  # stale_data only ever alerts
