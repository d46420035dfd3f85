"""Issue 16's Must show on the fast part of the acceptance matrix: policies/default.yaml on the
real 2020-03-13 crash (Binance perp 1m candles, ../shared/data/market), the flash crash and the
calm day, as cross longs at 5x/10x/20x and a 10x short opened at the low: 0 guarded liquidations,
every run at least 90 % of the half-liquidation stop's equity and the sum at least the stop's, no
order at 10x and at most one at 20x on the calm day. The whole matrix: scripts/replay-table."""

from __future__ import annotations

from pathlib import Path

from guard.lab.replay.matrix import calm_day, real_episodes, run_matrix, scenario_episodes
from guard.lab.replay.matrix_table import verdict
from guard.service.files import load_policies
from tests.conftest import shared_path

ROOT = Path(__file__).resolve().parents[3]


def test_default_policy_when_replayed_on_fast_crashes_and_calm_day_then_target_met() -> None:
    market = shared_path("data", "market")
    episodes = [
        *(e for e in real_episodes(market) if e.name.startswith("2020-03-13")),
        *(e for e in scenario_episodes() if e.name == "scenario flash-crash"),
        calm_day(),
    ]
    assert [e.source for e in episodes] == ["real", "scenario", "calm"]
    cells = run_matrix(episodes, load_policies([ROOT / "policies" / "default.yaml"]))
    result = verdict(cells)
    assert result.failures == ()
    assert result.guarded_total >= result.stop_total
    # the crashes do what they are for: unguarded accounts are liquidated in them
    assert any(c.unguarded.liquidations for c in cells if c.episode.source != "calm")
