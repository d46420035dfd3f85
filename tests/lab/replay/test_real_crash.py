"""Must show: the real 2024-08 BTC crash (Binance 5m candles, ~-24 %) with real funding, a 10x
cross long: unguarded is liquidated, guarded by policies/default.yaml is not, the books reconcile."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from guard.lab.replay.inputs import load_setup
from guard.lab.replay.runner import replay
from guard.service.files import load_policies
from guard.store import Store
from tests.conftest import shared_path

ROOT = Path(__file__).resolve().parents[3]
CANDLES = "binance_spot_BTCUSDT_5m_2024-08-01_2024-08-10.csv"
FUNDING = "binance_usdm_BTCUSDT_funding_2024-07-29_2024-08-12.csv"
PORTFOLIO = """\
venue: paper
collateral: 10000
positions:
  - {symbol: BTCUSDT, side: long, quantity: 1.547, entry_price: 64628.01, leverage: 10x}
"""


@pytest.mark.shared
@pytest.mark.slow
async def test_replay_when_real_august_2024_crash_then_guard_saves_10x_long_and_books_reconcile(
    tmp_path: Path, sqlite_store: Store
) -> None:
    candles = shared_path("data", "market", CANDLES)
    funding = shared_path("data", "market", FUNDING)
    portfolio = tmp_path / "portfolio.yaml"
    portfolio.write_text(PORTFOLIO, encoding="utf-8")
    setup = load_setup([candles], [funding], [], portfolio)
    assert setup.bars == 2880
    prices = [p for _, p in setup.path.knots["BTC/USDT:USDT"]]
    assert min(prices) / prices[0] < Decimal("0.77")  # the data really falls ~24 %
    policies = load_policies([ROOT / "policies" / "default.yaml"])

    began = time.perf_counter()
    result = await replay(setup, policies, sqlite_store, timedelta(minutes=5), Decimal("0.05"))
    seconds = time.perf_counter() - began

    assert len(result.unguarded.liquidations) >= 1
    assert result.guarded.liquidations == ()
    assert result.guarded.orders >= 1
    assert result.guarded.final_equity > result.unguarded.final_equity
    for run in result.runs:
        expected = (
            run.starting_collateral
            + run.realized_pnl
            + run.unrealized_pnl
            - run.fees_and_slippage
            - run.funding_paid
            + run.shortfall_absorbed
        )
        assert abs(run.final_equity - expected) < Decimal("0.01"), run.name
        assert run.funding_paid != 0, run.name  # real funding settled on the way
    assert result.unguarded.final_equity < Decimal(1000)  # the unguarded account is wiped out
    assert seconds < 200, f"replay of 2,880 bars five ways took {seconds:.1f}s"
