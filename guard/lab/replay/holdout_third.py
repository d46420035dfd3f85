"""The third held-out set of `guard replay --holdout` (the default set since the second, seeds
1701-1707, was tuned on with the first for the volatility-gated example; both are reachable
through `--holdout-set second|first`): the regime generators on new seeds plus two shapes no policy was
tuned on — a slow rally that ends in a fast −8 % hour, and a volatility regime switch (calm, then
ten times the noise with no trend, then a slide); synthetic only; deterministic, pure."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from guard.gateway.paper.path import Knots
from guard.lab.replay.holdout import (
    NOISE,
    START_PRICE,
    clustered_grind,
    gap_down,
    knots_of,
    synthetic_episodes,
    v_rebound,
    walk,
    whipsaw,
)
from guard.lab.replay.holdout_fresh import staircase
from guard.lab.replay.matrix import Episode

# Disjoint from the tuning seeds (7, 11) and the two seen held-out sets (1601-1605, 1701-1707).
# Fixed, with the shapes below, before the policy tuned on the seen sets (now
# policies/examples/volatility-gated.yaml) was committed; each shipped policy run on it once.
THIRD_SEEDS = (1801, 1802, 1803, 1804, 1805, 1806, 1807, 1808)


def rally_then_drop(seed: int) -> Knots:
    """+6 % over 4 h, then −8 % in one hour, then 1 h calm (6 h in all): a slow winner that
    turns into a fast loss."""

    def drift(minute: int) -> float:
        if minute < 240:
            return math.log(1.06) / 240
        if minute < 300:
            return math.log(0.92) / 60
        return 0.0

    return knots_of(walk(random.Random(seed), 360, drift, NOISE))


def volatility_switch(seed: int) -> Knots:
    """2 h at the calm day's 0.03 % a minute, 2 h at 0.3 % a minute with no trend, then −7 %
    over 90 minutes at 0.1 % a minute (5.5 h in all): a regime change before a slide."""
    rng = random.Random(seed)
    price, prices = START_PRICE, [START_PRICE]
    for minute in range(330):
        if minute < 120:
            step = rng.gauss(0.0, 0.0003)
        elif minute < 240:
            step = rng.gauss(0.0, 0.003)
        else:
            step = math.log(0.93) / 90 + rng.gauss(0.0, 0.001)
        price *= math.exp(step)
        prices.append(price)
    return knots_of(prices)


THIRD_REGIMES: dict[str, tuple[Callable[[int], Knots], int]] = {  # name -> (generator, seed)
    "V rebound": (v_rebound, THIRD_SEEDS[0]),
    "clustered grind": (clustered_grind, THIRD_SEEDS[1]),
    "whipsaw": (whipsaw, THIRD_SEEDS[2]),
    "gap down": (gap_down, THIRD_SEEDS[3]),
    "staircase": (staircase, THIRD_SEEDS[4]),
    "rally then drop": (rally_then_drop, THIRD_SEEDS[5]),
    "volatility switch": (volatility_switch, THIRD_SEEDS[6]),
}


def third_episodes() -> list[Episode]:
    return synthetic_episodes(THIRD_REGIMES, THIRD_SEEDS[7], prefix="third")
