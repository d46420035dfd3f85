"""The second held-out set of `guard replay --holdout-set second` (the default `--holdout` is
the third set, guard.lab.replay.holdout_third; `--holdout-set first` the first): the same regime
generators on new seeds, plus two shapes no policy was tuned on when it was first run (a crash in
stairs with rebounds between the steps, a rally that turns into a slide); seen since; synthetic
only (no unused real episode is left in ../shared/data/market); deterministic, pure."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from guard.gateway.paper.path import Knots
from guard.lab.replay.holdout import (
    NOISE,
    clustered_grind,
    gap_down,
    knots_of,
    synthetic_episodes,
    v_rebound,
    walk,
    whipsaw,
)
from guard.lab.replay.matrix import Episode

# Disjoint from the tuning seeds (7, 11) and the seen held-out set (1601-1605). Chosen before
# the fresh set was ever run; never tune on these.
FRESH_SEEDS = (1701, 1702, 1703, 1704, 1705, 1706, 1707)


def staircase(seed: int) -> Knots:
    """30 min calm, then four legs: −3 % in 10 minutes, +1.5 % over the next 40 (5 h 50 in all,
    about −6 % net with rebounds that undo half of each step)."""

    def drift(minute: int) -> float:
        if minute < 30 or minute >= 230:
            return 0.0
        leg = (minute - 30) % 50
        return math.log(0.97) / 10 if leg < 10 else math.log(1.015) / 40

    return knots_of(walk(random.Random(seed), 350, drift, NOISE))


def rally_then_slide(seed: int) -> Knots:
    """+8 % over 3 h, then −15 % over 90 minutes, then 1.5 h calm (6 h in all): a winner that
    gives back its gains and then some."""

    def drift(minute: int) -> float:
        if minute < 180:
            return math.log(1.08) / 180
        if minute < 270:
            return math.log(0.85) / 90
        return 0.0

    return knots_of(walk(random.Random(seed), 360, drift, NOISE))


FRESH_REGIMES: dict[str, tuple[Callable[[int], Knots], int]] = {  # name -> (generator, seed)
    "V rebound": (v_rebound, FRESH_SEEDS[0]),
    "clustered grind": (clustered_grind, FRESH_SEEDS[1]),
    "whipsaw": (whipsaw, FRESH_SEEDS[2]),
    "gap down": (gap_down, FRESH_SEEDS[3]),
    "staircase": (staircase, FRESH_SEEDS[4]),
    "rally then slide": (rally_then_slide, FRESH_SEEDS[5]),
}


def fresh_episodes() -> list[Episode]:
    return synthetic_episodes(FRESH_REGIMES, FRESH_SEEDS[6], prefix="fresh")
