"""Hypothesis properties of margin.py's liquidation arithmetic, cross and isolated alike:

1. at the computed liquidation price the pool's equity equals its maintenance requirement;
2. a mark moving against an unhedged position never lowers its margin ratio;
3. reducing a position (fees aside) never moves its own liquidation price closer to the mark.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from guard.core.domain import ZERO, AccountSnapshot, MarginMode, Position, Side
from guard.core.margin import isolated_equity, liquidation_distance, liquidation_price, measure
from guard.core.venues import bybit, dydx, paper
from guard.core.venues.base import VenueRules, maintenance_margin
from tests.builders import D, snapshot

RULES = [paper.RULES, dydx.RULES]  # generic solver (Binance-like tiers; dYdX strict condition)
TOLERANCE = D("1e-18")  # relative to notional: Decimal's 28 digits, nothing more


@dataclass(frozen=True)
class Case:
    snapshot: AccountSnapshot
    position: Position
    rules: VenueRules


def scaled(draw: st.DrawFn, low: int, high: int, places: int) -> Decimal:
    return Decimal(draw(st.integers(low, high))).scaleb(-places)


@st.composite
def cases(draw: st.DrawFn, rules: list[VenueRules] = RULES, with_other: bool = True) -> Case:
    side = draw(st.sampled_from([Side.LONG, Side.SHORT]))
    mode = draw(st.sampled_from([MarginMode.CROSS, MarginMode.ISOLATED]))
    quantity = scaled(draw, 1, 100_000, 3)  # 0.001 .. 100
    entry = scaled(draw, 1_000, 10_000_000, 2)  # 10 .. 100,000
    mark = entry * scaled(draw, 700, 1300, 3)
    leverage = D(draw(st.integers(1, 50)))
    wallet = quantity * entry * scaled(draw, 1, 2000, 3)  # 0.001x .. 2x entry notional
    margin = quantity * entry / leverage if mode is MarginMode.ISOLATED else None
    position = Position("BTC/USDT:USDT", side, quantity, entry, mark, mode, leverage, margin)
    positions = [position]
    if with_other and draw(st.booleans()):
        other_q = scaled(draw, 1, 50_000, 2)
        other_e = scaled(draw, 100, 100_000, 2)
        other_m = other_e * scaled(draw, 800, 1200, 3)
        other_side = draw(st.sampled_from([Side.LONG, Side.SHORT]))
        positions.append(Position("ETH/USDT:USDT", other_side, other_q, other_e, other_m))
    return Case(snapshot(positions, wallet=str(wallet)), position, draw(st.sampled_from(rules)))


def pool(snap: AccountSnapshot, position: Position) -> tuple[Decimal, Decimal]:
    """(equity, maintenance) of the position's margin pool."""
    if position.margin_mode is MarginMode.ISOLATED:
        return isolated_equity(position), maintenance_margin(position, snap.market(position.symbol))
    metrics = measure(snap, paper.RULES)
    return metrics.cross_equity, metrics.cross_maintenance_margin


def with_position(snap: AccountSnapshot, old: Position, new: Position) -> AccountSnapshot:
    return replace(snap, positions=tuple(new if p.key == old.key else p for p in snap.positions))


@settings(max_examples=300, deadline=None)
@given(cases())
def test_liquidation_price_when_mark_set_to_it_then_pool_equity_equals_maintenance(case: Case):
    price = liquidation_price(case.position, case.snapshot, case.rules)
    assume(price is not None)
    assert price is not None and price > ZERO
    moved = replace(case.position, mark_price=price)
    equity, maintenance = pool(with_position(case.snapshot, case.position, moved), moved)
    assert abs(equity - maintenance) <= TOLERANCE * (
        moved.notional + case.snapshot.balance.wallet_balance
    )


@settings(max_examples=150, deadline=None)
@given(cases(rules=[bybit.RULES], with_other=False))
def test_bybit_isolated_liquidation_price_when_reached_then_equity_equals_entry_maintenance(
    case: Case,
):
    """Bybit's published isolated formula takes maintenance at the entry value."""
    assume(case.position.margin_mode is MarginMode.ISOLATED)
    price = liquidation_price(case.position, case.snapshot, case.rules)
    assume(price is not None)
    assert price is not None
    moved = replace(case.position, mark_price=price)
    at_entry = replace(case.position, mark_price=case.position.entry_price)
    expected = maintenance_margin(at_entry, case.snapshot.market(at_entry.symbol))
    assert abs(isolated_equity(moved) - expected) <= TOLERANCE * at_entry.notional


@settings(max_examples=300, deadline=None)
@given(cases(with_other=False), st.integers(1, 900))
def test_margin_ratio_when_mark_moves_against_unhedged_position_then_never_lower(
    case: Case, move: int
):
    """A long whose collateral exceeds its entry notional (net of the tiers it crosses) has a
    ratio that falls with the price because both maintenance and equity shrink toward zero and
    no positive price can liquidate it: such longs are outside the property's domain."""
    position = case.position
    market = case.snapshot.market(position.symbol)
    collateral = (
        position.isolated_margin
        if position.margin_mode is MarginMode.ISOLATED
        else case.snapshot.balance.wallet_balance
    )
    assert collateral is not None
    if position.side is Side.LONG:
        crossed = [t for t in market.tiers if t.notional_floor <= position.notional]
        worst = max(t.maintenance_deduction / t.maintenance_rate for t in crossed)
        assume(collateral <= position.quantity * position.entry_price - worst)
    factor = Decimal(move).scaleb(-3)  # 0.1 % .. 90 % adverse move
    new_mark = position.mark_price * (1 - position.side.sign * factor)
    assume(new_mark > ZERO)
    before = measure(case.snapshot, case.rules).positions[0].margin_ratio
    moved = replace(position, mark_price=new_mark)
    after = (
        measure(with_position(case.snapshot, position, moved), case.rules).positions[0].margin_ratio
    )
    assert after >= before


@settings(max_examples=300, deadline=None)
@given(cases(rules=[paper.RULES, dydx.RULES, bybit.RULES]), st.integers(1, 999))
def test_liquidation_price_when_position_reduced_then_never_closer_to_mark(case: Case, keep: int):
    """Cross: the realised PnL of the closed part goes to the wallet. Isolated: the venue releases
    margin pro rata. Fees aside. Only positions not already past their liquidation price."""
    position = case.position
    before = liquidation_price(position, case.snapshot, case.rules)
    distance = liquidation_distance(position, before)
    assume(distance is None or distance > ZERO)
    fraction = Decimal(keep).scaleb(-3)
    quantity = position.quantity * fraction
    closed = position.quantity - quantity
    reduced = replace(position, quantity=quantity)
    snap = case.snapshot
    if position.margin_mode is MarginMode.ISOLATED:
        assert position.isolated_margin is not None
        reduced = replace(reduced, isolated_margin=position.isolated_margin * fraction)
    else:
        realised = position.side.sign * (position.mark_price - position.entry_price) * closed
        balance = replace(snap.balance, wallet_balance=snap.balance.wallet_balance + realised)
        snap = replace(snap, balance=balance)
    snap = with_position(snap, position, reduced)
    after = liquidation_price(reduced, snap, case.rules)
    if before is None:
        assert after is None
        return
    new_distance = liquidation_distance(reduced, after)
    assert distance is not None
    assert new_distance is None or new_distance >= distance - TOLERANCE
