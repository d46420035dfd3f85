"""The replay's report and chart on a held-out wick (V rebound, 10x cross long, default policy):
the report gives the first guard order's time, the equity given up vs unguarded and each rule's
contribution; the chart draws each margin pool's distance to liquidation per run and labels every
guard order with its rule and size (checked on the matplotlib figure, not on pixels)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import matplotlib.pyplot as plt

from guard.core.domain import MarginMode, Side
from guard.lab.demo import fresh_store
from guard.lab.replay.chart import build
from guard.lab.replay.holdout import synthetic_episodes
from guard.lab.replay.matrix import Position, setup_for
from guard.lab.replay.pools import pool_distances
from guard.lab.replay.report import money, report_json
from guard.lab.replay.runner import ReplayResult, replay
from guard.lab.replay.setup import ReplaySetup
from guard.service.files import load_policies
from tests.lab.replay.test_runner import setup_of

ROOT = Path(__file__).resolve().parents[3]


def _replayed(tmp_path: Path) -> tuple[ReplaySetup, ReplayResult]:
    [wick] = [e for e in synthetic_episodes() if "V rebound" in e.name]
    setup = setup_for(wick, Position(Side.LONG, 10))
    store = fresh_store(tmp_path / "audit.db")
    policies = load_policies([ROOT / "policies" / "default.yaml"])
    try:
        result = asyncio.run(replay(setup, policies, store, wick.tick, Decimal("0.05")))
    finally:
        store.dispose()
    return setup, result


def test_report_when_guard_acted_then_first_order_given_up_and_rule_contributions(
    tmp_path: Path,
) -> None:
    setup, result = _replayed(tmp_path)
    guarded, unguarded = result.guarded, result.unguarded
    assert guarded.fills and unguarded.liquidations  # the wick liquidates the unguarded 10x
    report = report_json(
        setup, result, tick="15s", stop_loss=Decimal("0.05"), policy="d", audit_db=None, chart=None
    )["runs"]["guarded"]
    assert report["first_order_at"] == guarded.fills[0].at.isoformat()
    assert report["equity_vs_unguarded"] == money(guarded.final_equity - unguarded.final_equity)
    shares = report["rule_contributions"]
    assert sum(share["orders"] for share in shares.values()) == len(guarded.fills)
    reduced = sum((f.quantity * f.price for f in guarded.fills), Decimal(0))
    # each share is rounded to the cent on its own: the sum may differ from the rounded total by
    # half a cent per share
    summed = sum(Decimal(share["notional"]) for share in shares.values())
    assert abs(summed - reduced) <= Decimal("0.005") * len(shares)
    assert set(shares) == set(guarded.order_rules.values())


def test_chart_when_drawn_then_pool_distance_per_run_and_guard_orders_labelled(
    tmp_path: Path,
) -> None:
    setup, result = _replayed(tmp_path)
    figure = build(setup, result)
    try:
        price_ax, _equity_ax, _ratio_ax, distance_ax = figure.axes[:4]
        lines = {line.get_label(): line for line in distance_ax.get_lines()}
        assert {f"{run.name} cross" for run in result.runs} <= set(lines)
        assert "distance to liquidation" in distance_ax.get_ylabel()
        guarded = [float(y) for y in lines["guarded cross"].get_ydata()]
        assert min(guarded) > 0  # the guard kept the pool away from liquidation
        start = float(lines["unguarded cross"].get_ydata()[0])
        assert 8 < start < 11  # a 10x cross long starts about 9.5 % from liquidation
        labels = [text.get_text() for text in price_ax.texts]
        expected = [
            f"{result.guarded.order_rules[f.client_order_id]} {f.quantity.normalize():f}"
            for f in result.guarded.fills
        ]
        assert labels == expected
        assert all(label.split(" ")[0] in result.guarded.contributions for label in labels)
    finally:
        plt.close(figure)


def test_pool_distances_when_isolated_position_then_own_pool_shrinking_as_price_falls() -> None:
    setup = setup_of([60000, 57000], mode=MarginMode.ISOLATED)
    venue = setup.venue("a")
    before = pool_distances(venue, "a")
    venue.advance_to(setup.end)
    after = pool_distances(venue, "a")
    assert set(before) == set(after) == {"isolated:BTC/USDT:USDT"}
    assert 0 < after["isolated:BTC/USDT:USDT"] < before["isolated:BTC/USDT:USDT"] < 1
