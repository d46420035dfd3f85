"""The policy band a position's liquidation distance is in (the web page's bar colour)."""

from __future__ import annotations

from decimal import Decimal

from guard.operator.console.live import band, liquidation_triggers
from guard.service.files import load_policies
from tests.service.helpers import POLICY

TRIGGERS = [Decimal("0.12"), Decimal("0.08"), Decimal("0.05"), Decimal("0.03")]


def test_triggers_when_default_policy_then_its_liquidation_ladder_widest_first() -> None:
    assert liquidation_triggers(load_policies((POLICY,))) == TRIGGERS


def test_band_when_distance_outside_inside_or_deepest_then_ok_warn_critical() -> None:
    assert band(Decimal("0.20"), TRIGGERS) == "ok"
    assert band(Decimal("0.12"), TRIGGERS) == "warn"
    assert band(Decimal("0.031"), TRIGGERS) == "warn"
    assert band(Decimal("0.03"), TRIGGERS) == "critical"
    assert band(None, TRIGGERS) == "unknown"
    assert band(Decimal("0.01"), []) == "ok"
