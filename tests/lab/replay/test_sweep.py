"""The sweep's parameter grid: axes parsed, every combination applied to the policy text and
validated like a policy file, mistakes named."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from guard.core.policy.schema_ladders import ExitLadderRule
from guard.core.yaml_model import ConfigError
from guard.lab.replay.sweep import parse_axis, variants

DEFAULT = (Path(__file__).resolve().parents[3] / "policies" / "default.yaml").read_text()


def test_variants_when_two_axes_then_every_combination_applied_and_validated() -> None:
    axes = [
        parse_axis("liquidation-ladder.bands[0].trigger=35%,40%"),
        parse_axis("liquidation-ladder.confirm_ticks=1,3"),
    ]
    found = variants(DEFAULT, "default.yaml", axes)
    assert len(found) == 4
    seen = set()
    for _label, policies in found:
        (ladder,) = [r for r in policies.rules if r.id == "liquidation-ladder"]
        assert isinstance(ladder, ExitLadderRule)
        seen.add((ladder.bands[0].trigger, ladder.confirm_ticks))
    assert seen == {(Decimal(t) / 100, c) for t in (35, 40) for c in (1, 3)}


def test_variants_when_value_invalid_then_config_error_names_the_variant() -> None:
    axes = [parse_axis("liquidation-ladder.bands[0].trigger=60%")]  # above the next band
    with pytest.raises(ConfigError) as caught:
        variants(DEFAULT, "default.yaml", axes)
    assert "liquidation-ladder.bands[0].trigger=60%" in str(caught.value)


def test_axis_when_malformed_or_unknown_rule_then_clear_error() -> None:
    with pytest.raises(ValueError, match=r"RULE\.FIELD=V1,V2"):
        parse_axis("liquidation-ladder.rearm")
    with pytest.raises(ValueError, match="no rule 'nope'"):
        variants(DEFAULT, "default.yaml", [parse_axis("nope.rearm=10%")])
