"""Replay check of policies/examples/atr-ladder.yaml on the real 2024-08 BTC crash (Binance 5m
candles, a 10x cross long): it runs, its ATR rules get candles from the replay's path and act,
and the position is not liquidated (unguarded it is)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from guard.core.domain import Side
from guard.lab.replay.matrix import Position, real_episodes, run_cell
from guard.service.files import load_policies
from tests.conftest import shared_path

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.shared
@pytest.mark.slow
async def test_replay_when_atr_example_on_august_2024_crash_then_atr_rules_act_and_no_liquidation() -> (
    None
):
    market = shared_path("data", "market")
    [episode] = [e for e in real_episodes(market) if e.name.startswith("2024-08")]
    policies = load_policies([ROOT / "policies" / "examples" / "atr-ladder.yaml"])
    cell = await run_cell(episode, Position(Side.LONG, 10), policies)
    assert cell.unguarded.liquidations and not cell.guarded.liquidations
    acted = set(cell.guarded.contributions)
    assert {"atr-ladder", "pullback"} <= acted  # rules in ATR units, fed by candles of the path
    assert abs(cell.guarded.reconciliation_error) < Decimal("0.01")  # the books balance
