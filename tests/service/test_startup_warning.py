"""Warnings before action: at start the service sends one warning and one log line per account
ranking its positions nearest liquidation first; alert-only rules reach the notifier (paper)."""

from __future__ import annotations

import re
from decimal import Decimal

from guard.core.policy.loading import policy_set
from guard.core.position_risk import PositionRisk, proximity_lines
from guard.service import AccountRuntime
from guard.service.notify import AlertKind
from guard.store import Store
from tests.service.helpers import ACCOUNT, rig

D = Decimal


def risk(symbol: str, distance: str | None) -> PositionRisk:
    price = None if distance is None else D(100) * (1 - D(distance))
    return PositionRisk(
        symbol,
        "long",
        "cross",
        D(1),
        D(100),
        D(5),
        price,
        None if distance is None else D(distance),
    )


def test_proximity_lines_when_mixed_distances_then_nearest_first_and_no_price_last() -> None:
    lines = proximity_lines([risk("A", "0.2"), risk("B", None), risk("C", "0.05")])
    assert [line.split(" ")[1] for line in lines] == ["C", "A", "B"]
    assert lines[0] == "1. C long cross 5.0x: liquidation 95.00 is 5.00% away (mark 100)"
    assert lines[2].endswith("no liquidation price (mark 100)")


async def test_tick_when_service_starts_then_one_warning_ranking_positions_by_liquidation(
    sqlite_store: Store,
) -> None:
    rigged = rig(sqlite_store)
    await rigged.tick()
    await rigged.run(3)
    sent = [a for a in rigged.service.notifier.sent if a.kind is AlertKind.PROXIMITY]
    assert len(sent) == 1  # once per account and start, not every tick
    [warning] = sent
    assert warning.account == ACCOUNT and warning.severity.value == "warning"
    assert "3 position(s), nearest liquidation first" in warning.title
    distances = [float(x) for x in re.findall(r"is ([\d.]+)% away", warning.body)]
    assert len(distances) == 3 and distances == sorted(distances)


async def test_tick_when_alert_only_rule_breaches_then_the_notifier_hears_it(
    sqlite_store: Store,
) -> None:
    rigged = rig(sqlite_store)
    text = """
version: 1
rules:
  - id: early-warning
    kind: leverage_cap
    position: 2x
    alert_only: true
"""
    runtime = rigged.runtime
    rigged.service.accounts = {
        ACCOUNT: AccountRuntime(
            ACCOUNT,
            runtime.rules,
            runtime.gateway,
            policy_set([("warn.yaml", text)]),
            clock=runtime.clock,
        )
    }
    report = await rigged.tick()
    assert report.plan is not None and not report.plan.orders
    alerts = [a for a in rigged.service.notifier.sent if a.kind is AlertKind.RULE_ALERT]
    bodies = [a.body for a in alerts if "alert only: no order" in a.body]
    assert len(bodies) == 3  # BTC 10x, ETH 8x, SOL 5x: each above 2x, one alert each
    await rigged.run(2)  # restated every tick with new figures: deduplicated, not repeated
    again = [a for a in rigged.service.notifier.sent if "alert only: no order" in a.body]
    assert len(again) == 3
