"""Schema: human units normalised, each kind's constraints, `guard check` exit codes."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from guard.core.policy.schema import Rule
from guard.core.policy.schema_ladders import DrawdownRule, ExitLadderRule
from guard.core.policy.schema_levels import (
    BufferFloorRule,
    ExposureCapRule,
    FundingThresholdRule,
    LeverageCapRule,
)
from guard.core.policy.schema_stress import StressRule
from guard.operator.commands.check import check_files

D = Decimal
RULE: TypeAdapter[Any] = TypeAdapter(Rule)


def rule(**fields: Any) -> Any:
    return RULE.validate_python({"id": "r", **fields})


@pytest.mark.parametrize(
    ("fields", "kind", "attribute", "expected"),
    [
        (
            {"kind": "buffer_floor", "metric": "margin_ratio", "floor": "70%", "restore": "50%"},
            BufferFloorRule,
            "floor",
            D("0.7"),
        ),
        (
            {"kind": "leverage_cap", "account": "5x"},
            LeverageCapRule,
            "account",
            D(5),
        ),
        (
            {"kind": "exposure_cap", "limit": "50_000"},
            ExposureCapRule,
            "limit",
            D(50000),
        ),
        (
            {"kind": "exposure_cap", "limit_pct_of_equity": "300%"},
            ExposureCapRule,
            "limit_pct_of_equity",
            D(3),
        ),
        (
            {"kind": "funding_threshold", "threshold": "0.05%", "window": "8h"},
            FundingThresholdRule,
            "window",
            timedelta(hours=8),
        ),
        (
            {"kind": "stress", "shocks": [{"move": "-30%"}]},
            StressRule,
            "margin_of_safety",
            D("0.1"),
        ),
        (
            {"kind": "drawdown", "max_drawdown": "20%", "rearm": "10%", "action": "flatten"},
            DrawdownRule,
            "window",
            timedelta(days=1),
        ),
        (
            {
                "kind": "exit_ladder",
                "metric": "mark_price",
                "direction": "below",
                "bands": [{"trigger": "50000", "reduce": "50%"}, {"trigger": 45000, "reduce": 1}],
                "rearm": "52000",
            },
            ExitLadderRule,
            "rearm",
            D(52000),
        ),
    ],
)
def test_parse_when_human_units_then_normalised(
    fields: dict[str, Any], kind: type, attribute: str, expected: object
) -> None:
    parsed = rule(**fields)
    assert isinstance(parsed, kind)
    assert getattr(parsed, attribute) == expected


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"kind": "buffer_floor", "metric": "margin_ratio", "floor": "50%", "restore": "70%"},
            "restore must be below floor",
        ),
        (
            {
                "kind": "buffer_floor",
                "metric": "free_collateral_pct",
                "floor": "20%",
                "restore": "10%",
            },
            "restore must be above floor",
        ),
        ({"kind": "leverage_cap"}, "give `account`, `position` or both"),
        ({"kind": "leverage_cap", "account": "0x"}, "above 0x"),
        ({"kind": "exposure_cap"}, "exactly one of"),
        ({"kind": "funding_threshold", "threshold": "0.05%", "action": "reduce"}, "needs `reduce`"),
        ({"kind": "funding_threshold", "threshold": "0.05%", "sustained": 0}, "greater than"),
        ({"kind": "stress", "shocks": []}, "at least 1"),
        ({"kind": "stress", "shocks": [{"move": "0%"}]}, "must not be 0%"),
        ({"kind": "stress", "shocks": [{"move": "-150%"}]}, "at least -100%"),
        ({"kind": "stress", "shocks": [{"move": "-30%"}], "order": "priority"}, "priority"),
        (
            {"kind": "drawdown", "max_drawdown": "20%", "rearm": "25%", "action": "flatten"},
            "rearm must be below",
        ),
        ({"kind": "drawdown", "max_drawdown": "20%", "rearm": "5%"}, "needs `reduce`"),
        (
            {
                "kind": "drawdown",
                "max_drawdown": "20%",
                "rearm": "5%",
                "action": "flatten",
                "window": "60d",
            },
            "at most 30d",
        ),
        ({"kind": "leverage_cap", "account": "5x", "order": "priority"}, "priority"),
        ({"kind": "stale_data", "max_age": "0s"}, "positive"),
    ],
)
def test_parse_when_incoherent_rule_then_refused_with_what_is_allowed(
    fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        rule(**fields)


def test_check_when_all_valid_then_exit_0_and_rules_in_plain_words(
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = Path(__file__).resolve().parents[3] / "policies"
    code = check_files([root / "default.yaml", root / "examples" / "survive-30.yaml"])
    out = capsys.readouterr().out
    assert code == 0
    assert "liquidation-ladder: exit ladder per position" in out
    assert "survive each shock" in out


def test_check_when_any_invalid_then_exit_2_with_file_line_field(
    capsys: pytest.CaptureFixture[str],
) -> None:
    good = Path(__file__).resolve().parents[3] / "policies" / "default.yaml"
    bad = Path(__file__).parent / "bad" / "zero_reduce.yaml"
    code = check_files([good, bad])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{bad}:9: rules[0].bands[1].reduce:" in err


def test_guard_check_when_invoked_through_cli_then_exit_codes_0_and_2() -> None:
    from typer.testing import CliRunner

    from guard.operator.cli import app

    root = Path(__file__).resolve().parents[3] / "policies"
    good = CliRunner().invoke(app, ["check", str(root / "default.yaml")])
    bad = CliRunner().invoke(
        app, ["check", str(Path(__file__).parent / "bad" / "unknown_key.yaml")]
    )
    assert good.exit_code == 0 and "stale-snapshot" in good.stdout
    assert bad.exit_code == 2 and "unknown_key.yaml:6: rules[0].maxage" in bad.stderr
