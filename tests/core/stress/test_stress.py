"""Stress shocks and the minimal surviving reduction, on plain values (paper venue rules)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guard.core.domain import AccountSnapshot, MarginMode, PositionKey, Side, frozen_map
from guard.core.stress import CROSS_POOL, Order, Shock, reduced, shocked, stress, survive
from guard.core.venues.paper import RULES
from tests.builders import position, snapshot

D = Decimal
BTC = PositionKey("BTC/USDT:USDT", Side.LONG)
ETH = PositionKey("ETH/USDT:USDT", Side.LONG)
SOL = PositionKey("SOL/USDT:USDT", Side.LONG)
DOWN_20 = Shock("all -20%", D("-0.2"))


def one_btc(wallet: str = "10000") -> AccountSnapshot:
    return snapshot([position(quantity="1", entry="60000")], wallet=wallet)


def test_stress_when_shock_liquidates_then_equity_maintenance_and_pool_reported() -> None:
    result = stress(one_btc(), DOWN_20, RULES)
    # mark 48000: equity 10000 - 12000 = -2000; maintenance 48000 x 0.4 % = 192
    assert result.equity == D(-2000)
    assert result.maintenance_margin == D(192)
    assert not result.survives
    assert result.account_liquidated
    assert result.liquidated_positions == (BTC,)


def test_stress_when_shock_survivable_then_nothing_liquidated() -> None:
    result = stress(one_btc(), Shock("all -10%", D("-0.1")), RULES)
    # mark 54000: equity 4000; maintenance 54000 x 0.5 % - 50 = 220
    assert (result.equity, result.maintenance_margin) == (D(4000), D(220))
    assert result.survives


def test_survive_when_margin_of_safety_then_minimal_reduction_matches_closed_form() -> None:
    # remaining q survives when 10000 - 12000 q > 1.1 x 192 q, i.e. q < 0.81892...; so cut
    # 0.18108... -> 0.182 at the 0.001 step (0.181 would leave 0.819, which fails)
    solution = survive(one_btc(), DOWN_20, RULES, D("0.1"))
    assert dict(solution.reductions) == {BTC: D("0.182")}
    assert solution.survives and not solution.before.survives and solution.after.survives
    one_step_less = reduced(one_btc(), {BTC: D("0.181")})
    assert not stress(one_step_less, DOWN_20, RULES, D("0.1")).survives


def test_survive_when_no_margin_of_safety_then_smaller_reduction() -> None:
    # q < 10000 / 12192 = 0.82021 -> cut 0.180
    solution = survive(one_btc(), DOWN_20, RULES, D(0))
    assert dict(solution.reductions) == {BTC: D("0.180")}


def two_coins() -> AccountSnapshot:
    return snapshot(
        [
            position(quantity="1", entry="60000"),
            position("ETH/USDT:USDT", quantity="10", entry="3000"),
        ],
        wallet="10000",
    )


def test_survive_when_pro_rata_then_same_fraction_of_each() -> None:
    # remaining fraction r: 10000 > (12000 + 211.2) r + (6000 + 105.6) r -> r < 0.545947
    solution = survive(two_coins(), DOWN_20, RULES, D("0.1"))
    assert dict(solution.reductions) == {BTC: D("0.455"), ETH: D("4.541")}
    assert solution.survives


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        # ETH closed first, then BTC: 12211.2 a < 10000 -> cut 0.182 BTC
        ((ETH, BTC), {ETH: D(10), BTC: D("0.182")}),
        # BTC first: with ETH whole, 12211.2 a < 3894.4 -> a < 0.31892 -> cut 0.682 BTC
        ((BTC, ETH), {BTC: D("0.682")}),
    ],
)
def test_survive_when_priority_order_then_positions_closed_in_that_order(
    order: tuple[PositionKey, ...], expected: dict[PositionKey, Decimal]
) -> None:
    solution = survive(two_coins(), DOWN_20, RULES, D("0.1"), order, "priority")
    assert dict(solution.reductions) == expected
    assert solution.survives


def test_shock_when_anchor_and_betas_then_others_move_by_beta() -> None:
    shock = Shock(
        "BTC -30%",
        D("-0.3"),
        anchor="BTC/USDT:USDT",
        betas=frozen_map({"ETH/*": D("1.5")}),
        default_beta=D("0.5"),
    )
    assert shock.move_of("BTC/USDT:USDT") == D("-0.3")
    assert shock.move_of("ETH/USDT:USDT") == D("-0.45")
    assert shock.move_of("SOL/USDT:USDT") == D("-0.15")
    moved = shocked(two_coins(), shock)
    assert [p.mark_price for p in moved.positions] == [D("42000.0"), D("1650.00")]


def test_shock_when_factors_remembered_then_each_symbol_keeps_its_own_move() -> None:
    shock = Shock("BTC -30%", D("-0.3"), anchor="BTC/USDT:USDT", default_beta=D("0.5"))
    symbols = ["BTC/USDT:USDT", "SOL/USDT:USDT", "BTC/USDT:USDT", "SOL/USDT:USDT"]
    assert [shock.factor_of(s) for s in symbols] == [D("0.7"), D("0.85"), D("0.7"), D("0.85")]
    assert shocked(two_coins(), shock) == shocked(two_coins(), replace(shock))  # a fresh memo


def test_shock_when_symbols_selected_then_others_unmoved_and_price_floored_at_zero() -> None:
    shock = Shock("ETH -150%", D("-1.5"), symbols=("ETH/*",))
    moved = shocked(two_coins(), shock)
    assert [p.mark_price for p in moved.positions] == [D(60000), D(0)]


def test_survive_when_isolated_pool_fails_then_only_it_is_closed() -> None:
    iso = position(
        "SOL/USDT:USDT",
        quantity="100",
        entry="150",
        mode=MarginMode.ISOLATED,
        isolated_margin="1500",
    )
    snap = snapshot([position(quantity="0.1", entry="60000"), iso], wallet="50000")
    result = stress(snap, DOWN_20, RULES)
    assert result.liquidated_positions == (SOL,)
    assert not result.account_liquidated
    assert {p.pool for p in result.pools} == {CROSS_POOL, str(SOL)}
    solution = survive(snap, DOWN_20, RULES, D("0.1"))
    assert dict(solution.reductions) == {SOL: D(100)}
    assert solution.survives


def test_survive_when_failing_position_not_selectable_then_says_it_cannot() -> None:
    solution = survive(one_btc(), DOWN_20, RULES, D("0.1"), keys=())
    assert not solution.survives
    assert dict(solution.reductions) == {}


def test_reduced_when_cross_reduction_then_equity_unchanged() -> None:
    from guard.core.margin import cross_equity

    snap = snapshot([position(quantity="2", entry="60000", mark="55000")], wallet="20000")
    after = reduced(snap, {BTC: D("0.5")})
    assert cross_equity(after) == cross_equity(snap)
    assert after.positions[0].quantity == D("1.5")


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 5000),
    st.integers(500, 100_000),
    st.integers(-60, 60).filter(lambda m: m != 0),
    st.sampled_from(Side),
    st.integers(0, 30),
)
def test_survive_when_any_single_position_then_solution_survives_and_fits(
    milli_btc: int, wallet: int, move_pct: int, side: Side, safety_pct: int
) -> None:
    quantity = D(milli_btc) / 1000
    snap = snapshot(
        [position(side=side, quantity=str(quantity), entry="60000")], wallet=str(wallet)
    )
    shock = Shock("s", D(move_pct) / 100)
    safety = D(safety_pct) / 100
    solution = survive(snap, shock, RULES, safety)
    cut = solution.reductions.get(PositionKey("BTC/USDT:USDT", side), D(0))
    assert D(0) <= cut <= quantity
    assert solution.survives
    assert stress(reduced(snap, solution.reductions), shock, RULES, safety).survives
    if solution.before.survives:
        assert cut == 0


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 5000),
    st.integers(500, 100_000),
    st.integers(1, 60),
    st.integers(0, 30),
    st.sampled_from(Side),
)
def test_survive_when_shock_more_severe_then_cut_never_smaller_beyond_one_step(
    milli_btc: int, wallet: int, move_pct: int, extra_pct: int, side: Side
) -> None:
    quantity = D(milli_btc) / 1000
    snap = snapshot(
        [position(side=side, quantity=str(quantity), entry="60000")], wallet=str(wallet)
    )
    against = -1 if side is Side.LONG else 1
    key = PositionKey("BTC/USDT:USDT", side)
    mild = survive(snap, Shock("mild", D(against * move_pct) / 100), RULES, D("0.1"))
    severe = survive(
        snap, Shock("severe", D(against * (move_pct + extra_pct)) / 100), RULES, D("0.1")
    )
    step = D("0.001")
    assert severe.reductions.get(key, D(0)) + step >= mild.reductions.get(key, D(0))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["BTC", "ETH", "SOL"]), st.integers(1, 5000), st.sampled_from(Side)
        ),
        min_size=1,
        max_size=3,
        unique_by=lambda t: t[0],
    ),
    st.integers(200, 50_000),
    st.integers(-40, 40).filter(lambda m: m != 0),
    st.booleans(),
)
def test_survive_when_any_cross_book_then_reduced_book_survives(
    legs: list[tuple[str, int, Side]], wallet: int, move_pct: int, pro_rata: bool
) -> None:
    held = [
        position(f"{coin}/USDT:USDT", side=side, quantity=str(D(milli) / 1000), entry="3000")
        for coin, milli, side in legs
    ]
    snap = snapshot(held, wallet=str(wallet))
    shock = Shock("s", D(move_pct) / 100)
    order: Order = "pro_rata" if pro_rata else "priority"
    solution = survive(snap, shock, RULES, D("0.05"), [p.key for p in held], order)
    assert solution.survives
    for p in held:
        assert D(0) <= solution.reductions.get(p.key, D(0)) <= p.quantity
    assert stress(reduced(snap, solution.reductions), shock, RULES, D("0.05")).survives
