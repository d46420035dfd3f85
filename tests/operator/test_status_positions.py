"""`guard status` shows each position of an account: size, leverage, liquidation price and
distance at its last evaluated tick (JSON and table)."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path

from guard.service.runner import Runner
from tests.operator.conftest import run
from tests.service.helpers import POLICY

CONFIG = """
version: 1
service:
  database_url: sqlite:///{db}
  create_schema: true
accounts:
  - name: sim
    venue: paper
    speed: 1
    start: 10m
    policies: [{policy}]
    poll_interval: 1s
"""


def test_status_when_account_ticked_then_positions_with_size_leverage_and_liquidation(
    tmp_path: Path,
) -> None:
    path = tmp_path / "guard.yaml"
    path.write_text(CONFIG.format(db=tmp_path / "guard.db", policy=POLICY))
    runner = Runner(path, install_signals=False)
    runner._config_events()

    async def tick() -> None:
        try:
            await runner.service.tick("sim")
        finally:
            runner.service.db.close()

    try:
        asyncio.run(tick())
    finally:
        runner.store.dispose()
    db = f"sqlite:///{tmp_path / 'guard.db'}"
    ran = run("status", "--json", "--db", db)
    assert ran.code == 0, ran.text
    (sim,) = json.loads(ran.raw.stdout)
    positions = {p["symbol"]: p for p in sim["positions"]}
    # the crash scenario's book before the crash: 1.2 BTC, 18 ETH, 100 SOL long, cross
    sizes = {s: Decimal(str(p["size"])) for s, p in positions.items()}
    assert sizes == {
        "BTC/USDT:USDT": Decimal("1.2"),
        "ETH/USDT:USDT": Decimal(18),
        "SOL/USDT:USDT": Decimal(100),
    }
    for p in positions.values():
        mark, liq = Decimal(str(p["mark_price"])), Decimal(str(p["liquidation_price"]))
        assert p["side"] == "long" and 0 < liq < mark
        distance = Decimal(str(p["liquidation_distance"]))
        assert abs(distance - (mark - liq) / mark) < Decimal("1e-9")
        assert Decimal(str(p["leverage"])) > 0
    table = run("status", "--db", db).out
    assert "positions" in table and "liq price" in table
    btc = next(line for line in table.splitlines() if "BTC/USDT:USDT" in line)
    assert "1.2" in btc and "long cross" in btc and "x" in btc
