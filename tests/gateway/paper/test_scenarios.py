"""Scenario files: every file loads and is deterministic by seed; the built-in crash is kept;
bad files and unknown names give clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from guard.core.yaml_model import ConfigError
from guard.gateway.paper.scenarios import (
    BUILT_IN,
    SCENARIO_DIR,
    catalogue,
    crash,
    load_scenario_file,
    scenario,
    scenario_files,
)

EXPECTED = {"flash-crash", "grind-down", "short-squeeze", "correlated-crash", "funding-spike"}


def test_scenario_files_when_listed_then_the_five_stress_shapes_exist() -> None:
    assert set(scenario_files()) >= EXPECTED
    names = [name for name, _, _ in catalogue()]
    assert names[0] == "crash" and set(names) >= EXPECTED


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_scenario_when_built_twice_with_same_seed_then_identical_and_other_seed_differs(
    name: str,
) -> None:
    first, again, other = scenario(name, 7), scenario(name, 7), scenario(name, 8)
    assert first.path.knots == again.path.knots
    assert first.path.knots != other.path.knots
    assert first.funding == again.funding
    symbols = {p.symbol for p in first.positions}
    assert symbols <= set(first.markets) and first.venue(("a",)).equity("a") == first.collateral


def test_scenario_when_correlated_crash_then_higher_beta_falls_further() -> None:
    chosen = scenario("correlated-crash")
    drops = {s: min(p for _, p in knots) / knots[0][1] for s, knots in chosen.path.knots.items()}
    assert drops["SOL/USDT:USDT"] < drops["ETH/USDT:USDT"] < drops["BTC/USDT:USDT"] < 1


def test_scenario_when_funding_spike_then_rates_jump_for_a_day() -> None:
    chosen = scenario("funding-spike")
    rates = [rate for _, rate in chosen.funding["BTC/USDT:USDT"]]
    assert rates.count(max(rates)) == 24 and max(rates) == 50 * min(rates)


def test_scenario_when_crash_built_in_then_unchanged_and_demo_venue_works() -> None:
    assert "crash" in BUILT_IN
    built = scenario("crash", 7)
    assert built.path.knots == crash(7).path.knots
    assert built.venue(("demo",)).equity("demo") == built.collateral


def test_scenario_when_unknown_then_error_lists_known_names() -> None:
    with pytest.raises(KeyError, match="flash-crash"):
        scenario("tsunami")


def test_scenario_when_given_a_path_then_the_file_is_used(tmp_path: Path) -> None:
    source = (SCENARIO_DIR / "flash-crash.yaml").read_text(encoding="utf-8")
    path = tmp_path / "mine.yaml"
    path.write_text(source.replace("name: flash-crash", "name: mine"), encoding="utf-8")
    assert scenario(str(path)).name == "mine"


def test_load_scenario_file_when_position_symbol_unknown_then_error_names_file_and_line(
    tmp_path: Path,
) -> None:
    source = (SCENARIO_DIR / "flash-crash.yaml").read_text(encoding="utf-8")
    path = tmp_path / "bad.yaml"
    path.write_text(source.replace('per_minute: "-3.2%"', 'per_minute: "-30%"'), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_scenario_file(path)
    assert f"{path}:" in str(caught.value) and "drift[1].per_minute" in str(caught.value)
    assert "within -20% and 20%" in str(caught.value)
