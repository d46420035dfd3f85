"""The held-out set of `guard replay --holdout`: its generators are deterministic, shaped as
documented and seeded apart from the tuning set; a small part of it, replayed through the CLI,
prints exactly the rows docs/replay.md ("Out of sample") quotes, and its verdict."""

from __future__ import annotations

import inspect
import itertools
import math
import random
from decimal import Decimal
from pathlib import Path

from typer.testing import CliRunner

from guard.gateway.paper.data import load_candles
from guard.lab.replay import matrix
from guard.lab.replay.holdout import (
    GAP_SECONDS,
    HOLDOUT_SEEDS,
    REGIMES,
    clustered_grind,
    gap_down,
    mirrored,
    synthetic_episodes,
    v_rebound,
    whipsaw,
)
from guard.operator.cli import app
from tests.conftest import shared_path

ROOT = Path(__file__).resolve().parents[3]
DOCS = ROOT / "docs" / "replay.md"


def _prices(knots: tuple[tuple[object, Decimal], ...]) -> list[float]:
    return [float(p) for _, p in knots]


def test_generators_when_called_twice_then_same_path_and_other_seed_gives_another() -> None:
    for name, (generator, seed) in REGIMES.items():
        assert generator(seed) == generator(seed), name
        assert generator(seed) != generator(seed + 1000), name


def test_holdout_seeds_when_compared_with_the_tuning_set_then_disjoint() -> None:
    tuning = {
        inspect.signature(matrix.scenario_episodes).parameters["seed"].default,
        inspect.signature(matrix.calm_day).parameters["seed"].default,
    }
    assert tuning == {7, 11}
    assert not tuning & set(HOLDOUT_SEEDS)
    assert len(set(HOLDOUT_SEEDS)) == len(HOLDOUT_SEEDS)
    assert {seed for _, seed in REGIMES.values()} <= set(HOLDOUT_SEEDS)
    names = [e.name for e in synthetic_episodes()]
    tuned = [e.name for e in (*matrix.scenario_episodes(), matrix.calm_day())]
    assert not set(names) & set(tuned)


def test_v_rebound_when_generated_then_wick_of_about_12_pct_mostly_recovered() -> None:
    prices = _prices(v_rebound(HOLDOUT_SEEDS[0]))
    low = min(range(len(prices)), key=prices.__getitem__)
    assert 60 <= low <= 70
    assert 0.85 < prices[low] / prices[60] < 0.91
    assert prices[96] / prices[60] > 0.95  # back within a few % of the pre-wick price


def _calmest_and_wildest(prices: list[float]) -> float:
    """Mean absolute minute return of the wildest 30-minute window ÷ the calmest's."""
    returns = [math.log(b / a) for a, b in itertools.pairwise(prices)]
    mean = sum(returns) / len(returns)
    moves = [abs(r - mean) for r in returns]
    windows = [sum(moves[i : i + 30]) for i in range(0, len(moves) - 29, 30)]
    return max(windows) / min(windows)


def test_clustered_grind_when_generated_then_falls_and_volatility_clusters() -> None:
    seed = HOLDOUT_SEEDS[1]
    prices = _prices(clustered_grind(seed))
    assert 0.80 < prices[-1] / prices[0] < 0.93
    # the same fall with constant volatility (0.1 % a minute, the GARCH long-run level)
    rng, plain = random.Random(seed), [prices[0]]
    for _ in range(len(prices) - 1):
        plain.append(plain[-1] * math.exp(-0.0003 + rng.gauss(0.0, 0.001)))
    assert _calmest_and_wildest(prices) > 1.4 * _calmest_and_wildest(plain)


def test_whipsaw_when_generated_then_swings_both_sides_of_entry() -> None:
    prices = _prices(whipsaw(HOLDOUT_SEEDS[2]))
    assert max(prices) / prices[0] > 1.03
    assert min(prices) / prices[0] < 0.97


def test_gap_down_when_generated_then_ten_pct_between_knots_a_second_apart() -> None:
    knots = gap_down(HOLDOUT_SEEDS[3])
    times = [t for t, _ in knots]
    assert times == sorted(set(times))
    gaps = [
        (a, b) for a, b in itertools.pairwise(knots) if (b[0] - a[0]).total_seconds() == GAP_SECONDS
    ]
    assert len(gaps) == 1
    (_, before), (_, after) = gaps[0]
    assert abs(float(after / before) - 0.9) < 1e-4


def test_mirrored_when_applied_to_real_crash_then_fall_becomes_rise_of_same_log_size() -> None:
    path = shared_path("data", "market", matrix.REAL_EPISODES[0][1])
    candles = load_candles(path)
    flipped = mirrored(candles)
    first = candles[0].open
    assert abs(flipped[0].open - first) <= Decimal("0.1")  # the market's price tick
    for original, mirror in zip(candles, flipped, strict=True):
        assert mirror.high >= mirror.low
        assert abs(float(mirror.high * original.low) / float(first * first) - 1) < 1e-4
    lowest = min(c.low for c in candles)
    highest = max(c.high for c in flipped)
    assert abs(math.log(float(highest / first)) + math.log(float(lowest / first))) < 1e-4


def documented_block(heading: str) -> list[str]:
    """The printed table quoted under `heading` in docs/replay.md."""
    text = DOCS.read_text(encoding="utf-8")
    section = text.split(heading, 1)[1]
    return section.split("```", 2)[1].strip("\n").splitlines()


def test_holdout_command_when_seen_set_run_on_v_rebound_then_prints_the_documented_rows() -> None:
    market = shared_path("data", "market")
    result = CliRunner().invoke(
        app,
        [
            "replay",
            "--holdout",
            "--holdout-set",
            "first",
            "--only",
            "V rebound",
            "--market-dir",
            str(market),
            "--policy",
            str(ROOT / "policies" / "default.yaml"),
        ],
    )
    assert result.exit_code == 0, result.stderr
    printed = result.stdout.splitlines()
    documented = documented_block("### The first set (seen)")
    assert printed[0] == documented[0]  # the header
    rows = [line for line in printed if line.startswith("holdout V rebound")]
    assert len(rows) == 4
    assert rows == [line for line in documented if line.startswith("holdout V rebound")]
    assert "liquidations: unguarded 3  guarded 0  ½-liq stop 0  5% stop 0" in printed
    assert "out-of-sample verdict: target met" in printed
