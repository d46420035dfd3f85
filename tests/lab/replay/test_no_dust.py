"""Replay: level rules with `min_order_notional` and `restore_to` (hysteresis) stop the dust drip.
The funding-carry example's 3x leverage cap, as shipped, restates a sliver every tick of the crash
scenario (a 5x BTC long); the same policy with the two settings sends a handful of real orders."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from guard.core.domain import Side
from guard.core.policy.loading import policy_set
from guard.lab.replay.matrix import Position, scenario_episodes, setup_for
from guard.lab.replay.runner import RunResult, run_guarded
from guard.store import Store

ROOT = Path(__file__).resolve().parents[3]
CARRY = ROOT / "policies" / "examples" / "funding-carry.yaml"
CAP = "    account: 3x\n    order: highest_funding_cost\n"
SETTINGS = '    restore_to: "90%"\n    min_order_notional: "1000"\n'


async def _run(text: str, store: Store) -> RunResult:
    [crash] = [e for e in scenario_episodes() if e.name == "scenario crash"]
    policies = policy_set([("funding-carry.yaml", text)])
    return await run_guarded(setup_for(crash, Position(Side.LONG, 5)), policies, store, crash.tick)


@pytest.mark.slow
async def test_replay_when_level_cap_has_min_order_and_hysteresis_then_no_dust_drip(
    tmp_path: Path, sqlite_store: Store
) -> None:
    text = CARRY.read_text(encoding="utf-8")
    assert CAP in text  # the example's leverage cap, which the variant extends
    shipped = await _run(text, sqlite_store)
    dust = [f for f in shipped.fills if f.quantity * f.price < 1000]
    assert shipped.orders >= 25 and len(dust) >= 20  # the drip, as the example ships
    calm = await _run(text.replace(CAP, CAP + SETTINGS), sqlite_store)
    assert calm.orders <= 6
    assert all(f.quantity * f.price >= Decimal(1000) for f in calm.fills)
    assert not calm.liquidations and not shipped.liquidations
