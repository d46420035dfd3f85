"""The three runs on small synthetic paths and a scenario: liquidation, stop-loss fills at the
exact crossing, funding, drawdown, the guarded path through the real service and its audit."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from guard.core.domain import MarginMode, OrderSide, Side
from guard.gateway.paper.path import IndexedPricePath
from guard.gateway.paper.scenarios import MARKETS, SeedPosition, scenario
from guard.lab.replay.baselines import stop_level
from guard.lab.replay.runner import replay, run_stop_loss, run_unguarded, stops
from guard.lab.replay.setup import ReplaySetup, from_scenario
from guard.service.files import load_policies
from guard.store import Store

BTC = "BTC/USDT:USDT"
T0 = datetime(2024, 8, 5, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[3]


def setup_of(
    prices: list[int],
    side: Side = Side.LONG,
    quantity: str = "1",
    collateral: int = 10000,
    funding: tuple[tuple[datetime, Decimal], ...] = (),
    mode: MarginMode = MarginMode.CROSS,
) -> ReplaySetup:
    knots = tuple((T0 + timedelta(minutes=i), Decimal(p)) for i, p in enumerate(prices))
    return ReplaySetup(
        name="synthetic",
        markets={BTC: MARKETS[BTC]},
        path=IndexedPricePath({BTC: knots}),
        funding={BTC: funding} if funding else {},
        collateral=Decimal(collateral),
        positions=(
            SeedPosition(BTC, side, Decimal(quantity), Decimal(prices[0]), Decimal(10), mode),
        ),
        bars=len(prices),
    )


def test_run_unguarded_when_price_falls_through_liquidation_then_liquidated_and_reconciles() -> (
    None
):
    result = run_unguarded(setup_of([60000, 58000, 50000, 52000], quantity="1.5"))
    assert len(result.liquidations) == 1
    assert result.open_positions == 0
    assert abs(result.reconciliation_error) < Decimal("0.01")
    assert result.final_equity < Decimal(10000) and result.orders == 0


def test_run_unguarded_when_price_goes_up_then_down_then_drawdown_is_peak_to_trough() -> None:
    result = run_unguarded(setup_of([100, 120, 90, 110], collateral=1000))
    assert result.max_drawdown == Decimal(30)
    assert result.max_drawdown_pct == Decimal(30) / Decimal(1020)
    assert result.min_equity == Decimal(990)
    assert result.final_equity == Decimal(1010)


def test_run_unguarded_when_funding_settles_then_funding_paid_is_quantity_mark_rate() -> None:
    rates = (
        (T0 + timedelta(minutes=1), Decimal("0.001")),
        (T0 + timedelta(minutes=2), Decimal("-0.0005")),
    )
    result = run_unguarded(setup_of([60000, 60000, 60000, 60000], quantity="2", funding=rates))
    assert result.funding_paid == Decimal(2) * Decimal(60000) * Decimal("0.0005")
    assert result.final_equity == Decimal(10000) - result.funding_paid


async def test_run_stop_loss_when_long_crosses_stop_between_knots_then_filled_at_the_level() -> (
    None
):
    setup = setup_of([60000, 50000, 40000])
    result = await run_stop_loss(setup, Decimal("0.05"))
    level = stop_level(Side.LONG, Decimal(60000), Decimal("0.05"))
    (fill,) = result.fills
    assert fill.side is OrderSide.SELL and fill.quantity == Decimal(1)
    assert T0 < fill.at < T0 + timedelta(minutes=1)  # the crossing, not the next knot
    mark_at_fill = setup.path.price(BTC, fill.at)
    assert abs(mark_at_fill - level) < Decimal("0.01")
    assert fill.price < mark_at_fill  # a sell pays the spread and impact
    assert result.liquidations == () and result.orders == 1
    assert abs(result.reconciliation_error) < Decimal("0.01")


async def test_run_stop_loss_when_short_and_price_rallies_then_bought_back() -> None:
    result = await run_stop_loss(setup_of([60000, 61000, 70000], side=Side.SHORT), Decimal("0.1"))
    (fill,) = result.fills
    assert fill.side is OrderSide.BUY
    assert abs(fill.realized_pnl + Decimal(6000)) < Decimal("0.01")


async def test_run_stop_loss_when_stop_never_reached_then_no_order() -> None:
    result = await run_stop_loss(setup_of([60000, 59000, 61000]), Decimal("0.05"))
    assert result.orders == 0 and result.open_positions == 1


def test_stops_when_funding_and_ticks_given_then_all_moments_after_start_in_order() -> None:
    funding = ((T0 + timedelta(seconds=90), Decimal("0.0001")),)
    setup = setup_of([1, 2, 3], funding=funding)
    moments = stops(setup, setup.tick_times(timedelta(seconds=45)))
    assert moments == sorted(set(moments))
    assert T0 + timedelta(seconds=90) in moments and T0 + timedelta(seconds=45) in moments
    assert T0 not in moments and moments[-1] == T0 + timedelta(minutes=2)


async def test_replay_when_flash_crash_scenario_then_guard_saves_the_account(
    sqlite_store: Store,
) -> None:
    chosen = scenario("flash-crash")
    policies = load_policies([ROOT / "policies" / "default.yaml"])
    result = await replay(
        from_scenario(chosen), policies, sqlite_store, chosen.tick, Decimal("0.05")
    )
    assert len(result.unguarded.liquidations) == 1
    assert result.guarded.liquidations == ()
    # orders sent; an IOC beyond max_slippage (latency, impact) is sent but not filled
    assert result.guarded.orders > 0 and 0 < len(result.guarded.fills) <= result.guarded.orders
    assert result.guarded.final_equity > result.unguarded.final_equity
    for run in result.runs:
        assert abs(run.reconciliation_error) < Decimal("0.01"), run.name
    ok, _, message = sqlite_store.verify_chain()
    assert ok, message
    assert sqlite_store.count_events(account="guarded") > 0


def test_run_unguarded_when_isolated_position_is_liquidated_then_cross_wallet_survives() -> None:
    setup = setup_of(
        [60000, 50000, 49000], quantity="1", collateral=10000, mode=MarginMode.ISOLATED
    )
    result = run_unguarded(setup)
    (event,) = result.liquidations
    assert event.pool == "isolated:BTC/USDT:USDT"
    assert result.final_equity == Decimal(10000) - Decimal(6000)  # only the posted margin is lost
    assert abs(result.reconciliation_error) < Decimal("0.01")


def test_run_unguarded_when_progress_hook_given_then_reports_until_done() -> None:
    calls: list[tuple[str, int, int]] = []
    run_unguarded(setup_of([1, 2, 3, 4]), progress=lambda *call: calls.append(call))
    assert calls and calls[-1] == ("unguarded", 3, 3)


def test_money_when_value_rounds_to_zero_then_never_negative_zero() -> None:
    from guard.lab.replay.report import money

    assert money(Decimal("-0.0000001")) == "0.00"
    assert money(Decimal("-0.005")) == "0.00" and money(Decimal("-0.015")) == "-0.02"


@settings(max_examples=25, deadline=None)
@given(
    moves=st.lists(st.integers(min_value=-15, max_value=15), min_size=2, max_size=25),
    side=st.sampled_from([Side.LONG, Side.SHORT]),
    quantity=st.sampled_from(["0.5", "1", "1.6"]),
    mode=st.sampled_from([MarginMode.CROSS, MarginMode.ISOLATED]),
    distance=st.sampled_from(["0.02", "0.05", "0.2"]),
)
def test_runs_when_any_path_then_books_reconcile_within_a_cent(
    moves: list[int], side: Side, quantity: str, mode: MarginMode, distance: str
) -> None:
    prices = [60000]
    for move in moves:  # percent moves per minute, kept positive
        prices.append(max(prices[-1] * (100 + move) // 100, 1000))
    funding = ((T0 + timedelta(seconds=90), Decimal("0.003")),)
    setup = setup_of(prices, side=side, quantity=quantity, funding=funding, mode=mode)
    for result in (
        run_unguarded(setup),
        asyncio.run(run_stop_loss(setup, Decimal(distance))),
    ):
        assert abs(result.reconciliation_error) < Decimal("0.01")
        assert result.min_equity <= result.final_equity
        assert result.max_drawdown >= 0
