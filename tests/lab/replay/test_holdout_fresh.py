"""The fresh held-out set (`guard replay --holdout`, the default set): new seeds, apart from the
tuning set and the seen held-out set; its two new shapes are shaped as documented."""

from __future__ import annotations

import inspect
from decimal import Decimal

from typer.testing import CliRunner

from guard.lab.replay import matrix
from guard.lab.replay.holdout import HOLDOUT_SEEDS, synthetic_episodes
from guard.lab.replay.holdout_fresh import (
    FRESH_REGIMES,
    FRESH_SEEDS,
    fresh_episodes,
    rally_then_slide,
    staircase,
)
from guard.operator.cli import app
from tests.conftest import shared_path
from tests.lab.replay.test_holdout import ROOT, documented_block


def _prices(knots: tuple[tuple[object, Decimal], ...]) -> list[float]:
    return [float(p) for _, p in knots]


def test_fresh_seeds_when_compared_with_tuning_and_seen_sets_then_disjoint() -> None:
    tuning = {
        inspect.signature(matrix.scenario_episodes).parameters["seed"].default,
        inspect.signature(matrix.calm_day).parameters["seed"].default,
    }
    assert len(set(FRESH_SEEDS)) == len(FRESH_SEEDS)
    assert not set(FRESH_SEEDS) & (tuning | set(HOLDOUT_SEEDS))
    assert {seed for _, seed in FRESH_REGIMES.values()} <= set(FRESH_SEEDS)
    fresh = {e.name for e in fresh_episodes()}
    seen = {e.name for e in synthetic_episodes()}
    tuned = {e.name for e in (*matrix.scenario_episodes(), matrix.calm_day())}
    assert len(fresh) == len(FRESH_REGIMES) + 1  # and a calm day
    assert not fresh & (seen | tuned)


def test_fresh_generators_when_called_twice_then_same_path_and_other_seed_differs() -> None:
    for name, (generator, seed) in FRESH_REGIMES.items():
        assert generator(seed) == generator(seed), name
        assert generator(seed) != generator(seed + 1000), name


def test_staircase_when_generated_then_four_steps_down_each_half_undone() -> None:
    prices = _prices(staircase(FRESH_SEEDS[4]))
    for leg in range(4):
        top, bottom, rebound = (30 + 50 * leg + m for m in (0, 10, 50))
        assert 0.955 < prices[bottom] / prices[top] < 0.985, leg  # about −3 % in 10 minutes
        assert prices[rebound] > prices[bottom], leg  # the rebound before the next step
    assert 0.90 < prices[-1] / prices[0] < 0.97  # about −6 % net


def test_rally_then_slide_when_generated_then_up_about_8_pct_then_down_about_15() -> None:
    prices = _prices(rally_then_slide(FRESH_SEEDS[5]))
    assert 1.04 < prices[180] / prices[0] < 1.12
    assert 0.80 < prices[270] / prices[180] < 0.90


def test_holdout_command_when_set_unknown_then_exit_2_naming_the_choices() -> None:
    result = CliRunner().invoke(
        app, ["replay", "--holdout", "--holdout-set", "old", "--only", "no such episode"]
    )
    assert result.exit_code == 2
    assert "--holdout-set must be third, second or first" in result.stderr


def test_holdout_command_when_fresh_set_run_on_v_rebound_then_prints_the_documented_rows() -> None:
    result = CliRunner().invoke(
        app,
        [
            "replay",
            "--holdout",
            "--holdout-set",
            "second",
            "--only",
            "V rebound",
            "--market-dir",
            str(shared_path("data", "market")),
            "--policy",
            str(ROOT / "policies" / "default.yaml"),
        ],
    )
    assert result.exit_code == 0, result.stderr
    printed = result.stdout.splitlines()
    documented = documented_block("### The second set (run once when fresh)")
    assert printed[0] == documented[0]  # the header
    rows = [line for line in printed if line.startswith("fresh V rebound")]
    assert len(rows) == 4
    assert rows == [line for line in documented if line.startswith("fresh V rebound")]
    assert "out-of-sample verdict: target met" in printed
