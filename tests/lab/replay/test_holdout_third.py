"""The third held-out set (`guard replay --holdout`, the default set): seeds apart from the tuning
set and the two seen held-out sets; its two new shapes are shaped as documented."""

from __future__ import annotations

import inspect
from decimal import Decimal

from typer.testing import CliRunner

from guard.lab.replay import matrix
from guard.lab.replay.holdout import HOLDOUT_SEEDS, synthetic_episodes
from guard.lab.replay.holdout_fresh import FRESH_SEEDS, fresh_episodes
from guard.lab.replay.holdout_third import (
    THIRD_REGIMES,
    THIRD_SEEDS,
    rally_then_drop,
    third_episodes,
    volatility_switch,
)
from guard.operator.cli import app
from tests.conftest import shared_path
from tests.lab.replay.test_holdout import ROOT, documented_block


def _prices(knots: tuple[tuple[object, Decimal], ...]) -> list[float]:
    return [float(p) for _, p in knots]


def test_third_seeds_when_compared_with_tuning_and_seen_sets_then_disjoint() -> None:
    tuning = {
        inspect.signature(matrix.scenario_episodes).parameters["seed"].default,
        inspect.signature(matrix.calm_day).parameters["seed"].default,
    }
    assert len(set(THIRD_SEEDS)) == len(THIRD_SEEDS)
    assert not set(THIRD_SEEDS) & (tuning | set(HOLDOUT_SEEDS) | set(FRESH_SEEDS))
    assert {seed for _, seed in THIRD_REGIMES.values()} <= set(THIRD_SEEDS)
    third = {e.name for e in third_episodes()}
    seen = {e.name for e in (*synthetic_episodes(), *fresh_episodes())}
    tuned = {e.name for e in (*matrix.scenario_episodes(), matrix.calm_day())}
    assert len(third) == len(THIRD_REGIMES) + 1  # and a calm day
    assert not third & (seen | tuned)


def test_third_generators_when_called_twice_then_same_path_and_other_seed_differs() -> None:
    for name, (generator, seed) in THIRD_REGIMES.items():
        assert generator(seed) == generator(seed), name
        assert generator(seed) != generator(seed + 1000), name


def test_rally_then_drop_when_generated_then_up_about_6_pct_then_down_about_8_in_an_hour() -> None:
    prices = _prices(rally_then_drop(THIRD_SEEDS[5]))
    assert 1.02 < prices[240] / prices[0] < 1.10
    assert 0.89 < prices[300] / prices[240] < 0.95


def test_volatility_switch_when_generated_then_calm_then_ten_times_the_swings_then_a_slide() -> (
    None
):
    prices = _prices(volatility_switch(THIRD_SEEDS[6]))

    def mean_move(start: int, end: int) -> float:
        return sum(abs(prices[m + 1] / prices[m] - 1) for m in range(start, end)) / (end - start)

    assert mean_move(120, 240) > 5 * mean_move(0, 120)  # the regime switch
    assert 0.88 < prices[330] / prices[240] < 0.98  # about −7 % over the last 90 minutes


def test_holdout_command_when_third_set_run_on_v_rebound_then_prints_the_documented_rows() -> None:
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
            str(ROOT / "policies" / "default.yaml"),
        ],
    )
    assert result.exit_code == 0, result.stderr
    printed = result.stdout.splitlines()
    documented = documented_block("### The third set")
    assert printed[0] == documented[0]  # the header
    rows = [line for line in printed if line.startswith("third V rebound")]
    assert len(rows) == 4
    assert rows == [line for line in documented if line.startswith("third V rebound")]
