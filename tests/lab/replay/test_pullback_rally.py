"""Drawdown in the trader's terms, on the real 2024-08-08..10 BTC rally (Binance 5m candles, a 10x
cross long from the first bar): a drawdown rule on leveraged equity sells the winner on an
ordinary pullback, a pullback ladder on the mark in ATR units keeps it, evaluating all along."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from guard.core.domain import MarginMode, Side
from guard.core.policy.loading import policy_set
from guard.gateway.paper.data import load_candles
from guard.gateway.paper.impact import REPLAY_EXECUTION
from guard.gateway.paper.path import IndexedPricePath, bar_knots
from guard.gateway.paper.scenarios import MARKETS, SeedPosition
from guard.lab.replay.runner import run_guarded, run_unguarded
from guard.lab.replay.setup import ReplaySetup
from guard.store import Store
from tests.conftest import shared_path

BTC = "BTC/USDT:USDT"
CANDLES = "binance_spot_BTCUSDT_5m_2024-08-01_2024-08-10.csv"
EQUITY_DRAWDOWN = """
version: 1
rules:
  - {id: equity-drawdown, kind: drawdown, max_drawdown: "15%", window: 30d, reduce: "25%",
     rearm: "5%"}
"""
PULLBACK = """
version: 1
rules:
  - id: pullback
    kind: exit_ladder
    metric: pullback
    units: volatility
    volatility: {measure: atr, timeframe: 15m, bars: 16}
    bands: [{trigger: "6 atr", reduce: "25%"}]
    rearm: "2 atr"
"""


def rally() -> ReplaySetup:
    candles = load_candles(shared_path("data", "market", CANDLES))
    window = tuple(c for c in candles if c.at >= datetime(2024, 8, 8, tzinfo=UTC))
    knots = bar_knots(window, adverse_low_first=True)
    entry = knots[0][1]
    quantity = (Decimal(100_000) / entry).quantize(Decimal("0.001"))  # 10x on 10,000
    seed = SeedPosition(BTC, Side.LONG, quantity, entry, Decimal(10), MarginMode.CROSS)
    return ReplaySetup(
        "2024-08-08..10 rally", {BTC: MARKETS[BTC]}, IndexedPricePath({BTC: knots}), {},
        Decimal(10_000), (seed,), bars=len(knots), execution=REPLAY_EXECUTION, price="last-trade",
    )  # fmt: skip


@pytest.mark.shared
@pytest.mark.slow
async def test_replay_when_rally_pulls_back_then_pullback_ladder_keeps_the_winner(
    sqlite_store: Store,
) -> None:
    setup = rally()
    tick = timedelta(minutes=5)
    unguarded = run_unguarded(setup)
    equity = await run_guarded(
        setup, policy_set([("dd.yaml", EQUITY_DRAWDOWN)]), sqlite_store, tick
    )
    assert equity.orders >= 1 and equity.final_equity < unguarded.final_equity  # sold the winner
    pullback = await run_guarded(setup, policy_set([("pb.yaml", PULLBACK)]), sqlite_store, tick)
    assert pullback.orders == 0 and pullback.final_equity == unguarded.final_equity
    # it was evaluating, not holding for want of candles, when the equity rule sold
    held = [
        e.tick_id or ""
        for e in sqlite_store.events_of_kind("finding")
        if e.rule_id == "pullback" and "cannot evaluate" in e.message
    ]
    assert held and max(held) < "guarded@20240808T0420"
    assert equity.first_order_at is not None and equity.first_order_at > datetime(
        2024, 8, 8, 4, 20, tzinfo=UTC
    )
