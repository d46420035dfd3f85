"""policies/examples/volatility-gated.yaml, the default's early steps behind `act_within` (kept as
an example, not the default): its third-set V rebound rows, replayed through the CLI, are exactly
those docs/replay.md quotes for it ("The volatility-gated example"), and differ from the
default's."""

from __future__ import annotations

from typer.testing import CliRunner

from guard.operator.cli import app
from tests.conftest import shared_path
from tests.lab.replay.test_holdout import ROOT, documented_block

EXAMPLE = ROOT / "policies" / "examples" / "volatility-gated.yaml"


def test_holdout_command_when_gated_example_run_on_third_v_rebound_then_prints_its_rows() -> None:
    result = CliRunner().invoke(
        app,
        [
            "replay",
            "--holdout",
            "--only",
            "V rebound",
            "--market-dir",
            str(shared_path("data", "market")),
            "--policy",
            str(EXAMPLE),
        ],
    )
    assert result.exit_code == 0, result.stderr
    printed = result.stdout.splitlines()
    documented = documented_block("### Its third set")
    assert printed[0] == documented[0]  # the header
    rows = [line for line in printed if line.startswith("third V rebound")]
    assert len(rows) == 4
    assert rows == [line for line in documented if line.startswith("third V rebound")]
    default_rows = documented_block("### The third set")
    assert rows != [line for line in default_rows if line.startswith("third V rebound")]
