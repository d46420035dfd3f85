"""hypothesis properties of evaluate + plan: reduce-only and bounded orders, determinism,
monotone reactions to worse metrics, ladder bands once per episode, in-flight never doubled."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guard.core.domain import (
    ZERO,
    AccountSnapshot,
    GuardState,
    MarginMode,
    Position,
    Side,
    frozen_map,
)
from guard.core.engine import evaluate
from guard.core.planner import plan
from guard.core.venues.paper import RULES
from tests.builders import T0, position, snapshot
from tests.core.engine.helpers import policies, reduced

D = Decimal
SYMBOLS = ("BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT")
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

EVERY_KIND = policies(
    {
        "kind": "exit_ladder",
        "metric": "liquidation_distance",
        "bands": [
            {"trigger": "15%", "reduce": "25%"},
            {"trigger": "8%", "reduce": "50%"},
            {"trigger": "3%", "reduce": "100%"},
        ],
        "rearm": "20%",
    },
    {
        "kind": "exit_ladder",
        "metric": "unrealized_loss_pct",
        "bands": [{"trigger": "10%", "reduce": "30%"}],
        "rearm": "5%",
    },
    {"kind": "buffer_floor", "metric": "margin_ratio", "floor": "60%", "restore": "40%"},
    {
        "kind": "buffer_floor",
        "metric": "free_collateral_pct",
        "floor": "10%",
        "restore": "20%",
        "order": "pro_rata",
    },
    {"kind": "leverage_cap", "account": "8x", "position": "6x"},
    {
        "kind": "exposure_cap",
        "measure": "net",
        "scope": "per_asset",
        "limit_pct_of_equity": "400%",
        "order": "largest_loss",
    },
    {"kind": "funding_threshold", "threshold": "0.05%", "action": "reduce", "reduce": "20%"},
    {"kind": "stress", "shocks": [{"move": "-25%"}, {"move": "+25%"}], "margin_of_safety": "10%"},
    {"kind": "drawdown", "max_drawdown": "10%", "rearm": "5%", "action": "reduce", "reduce": "50%"},
)


@st.composite
def positions(draw: st.DrawFn) -> list[Position]:
    chosen = draw(st.lists(st.sampled_from(SYMBOLS), min_size=1, max_size=3, unique=True))
    out = []
    for symbol in chosen:
        side = draw(st.sampled_from(Side))
        quantity = D(draw(st.integers(1, 20_000))) / 1000
        entry = D(draw(st.integers(100, 70_000)))
        move = D(draw(st.integers(-300, 300))) / 1000
        mark = (entry * (1 + move)).quantize(D("0.1"))
        isolated = draw(st.booleans())
        margin = (quantity * entry / D(draw(st.integers(2, 50)))).quantize(D("0.01"))
        out.append(
            position(
                symbol,
                side,
                str(quantity),
                str(entry),
                str(mark),
                MarginMode.ISOLATED if isolated else MarginMode.CROSS,
                leverage=str(draw(st.integers(1, 50))),
                isolated_margin=str(margin) if isolated else None,
            )
        )
    return out


@st.composite
def snapshots(draw: st.DrawFn) -> AccountSnapshot:
    held = draw(positions())
    wallet = draw(st.integers(100, 200_000))
    funding = {p.symbol: str(D(draw(st.integers(-20, 20))) / 10_000) for p in held}
    return snapshot(held, wallet=str(wallet), funding=funding)


@FAST
@given(snapshots())
def test_plan_when_any_snapshot_then_orders_reduce_only_opposite_and_bounded(
    snap: AccountSnapshot,
) -> None:
    decision = evaluate(snap, EVERY_KIND, GuardState(), RULES)
    orders = plan(decision, snap, RULES).orders
    total: dict[Any, Decimal] = defaultdict(lambda: ZERO)
    for order in orders:
        held = snap.position(order.key)
        assert held is not None
        assert order.reduce_only
        assert order.side is held.side.closing_order_side
        assert order.quantity > ZERO
        total[order.key] += order.quantity
    for key, quantity in total.items():
        held = snap.position(key)
        assert held is not None and quantity <= held.quantity
    for reduction in decision.reductions:
        held = snap.position(reduction.key)
        assert held is not None and ZERO < reduction.quantity <= held.quantity


@FAST
@given(snapshots())
def test_evaluate_when_same_inputs_then_same_decision(snap: AccountSnapshot) -> None:
    first = evaluate(snap, EVERY_KIND, GuardState(), RULES)
    second = evaluate(snap, EVERY_KIND, GuardState(), RULES)
    assert first.reductions == second.reductions
    assert first.findings == second.findings
    assert first.alerts == second.alerts
    assert dict(first.next_state.episodes) == dict(second.next_state.episodes)
    assert dict(first.next_state.counters) == dict(second.next_state.counters)
    assert dict(first.next_state.last_fired) == dict(second.next_state.last_fired)


LADDER = policies(
    {
        "kind": "exit_ladder",
        "metric": "mark_price",
        "direction": "below",
        "bands": [
            {"trigger": "58000", "reduce": "20%"},
            {"trigger": "55000", "reduce": "30%"},
            {"trigger": "50000", "reduce": "50%"},
        ],
        "rearm": "59000",
    },
)


def _single(mark: Decimal, wallet: str = "50000", quantity: str = "2") -> AccountSnapshot:
    return snapshot([position(quantity=quantity, entry="60000", mark=str(mark))], wallet=wallet)


@FAST
@given(st.integers(40_000, 62_000), st.integers(0, 10_000))
def test_ladder_when_metric_worse_then_reduction_never_smaller(mark: int, worse_by: int) -> None:
    better = reduced(evaluate(_single(D(mark)), LADDER, GuardState(), RULES))
    worse = reduced(evaluate(_single(D(mark - worse_by)), LADDER, GuardState(), RULES))
    for key, quantity in better.items():
        assert worse.get(key, ZERO) >= quantity


LEVEL = policies(
    {"kind": "leverage_cap", "account": "5x", "position": "4x"},
    {"kind": "exposure_cap", "limit_pct_of_equity": "450%", "order": "pro_rata"},
)


@FAST
@given(snapshots(), st.integers(0, 50_000))
def test_level_rules_when_equity_lower_then_reduction_never_smaller(
    snap: AccountSnapshot, less: int
) -> None:
    poorer = replace(
        snap, balance=replace(snap.balance, wallet_balance=snap.balance.wallet_balance - less)
    )
    richer_cut = reduced(evaluate(snap, LEVEL, GuardState(), RULES))
    poorer_cut = reduced(evaluate(poorer, LEVEL, GuardState(), RULES))
    for key, quantity in richer_cut.items():
        assert poorer_cut.get(key, ZERO) >= quantity


STEP = re.compile(r"\|e(\d+)\|b([\d+]+)$")


@FAST
@given(st.lists(st.integers(45_000, 62_000), min_size=2, max_size=15), st.booleans())
def test_ladder_when_any_path_then_band_fires_at_most_once_per_episode(
    marks: list[int], fill: bool
) -> None:
    state = GuardState()
    quantity = D(10)
    fired: dict[int, set[int]] = defaultdict(set)
    for minute, mark in enumerate(marks):
        if quantity <= ZERO:
            break
        snap = replace(
            _single(D(mark), quantity=str(quantity)), taken_at=T0 + timedelta(minutes=minute)
        )
        decision = evaluate(snap, LADDER, state, RULES)
        state = decision.next_state
        for reduction in decision.reductions:
            for step in reduction.steps:
                match = STEP.search(step)
                assert match is not None
                bands = {int(b) for b in match.group(2).split("+")}
                episode = int(match.group(1))
                assert not bands & fired[episode], f"band fired twice in episode {episode}"
                fired[episode] |= bands
            if fill:  # the venue fills it before the next tick
                quantity -= reduction.quantity


@FAST
@given(snapshots(), st.integers(0, 1000))
def test_evaluate_when_reductions_in_flight_then_never_doubled(
    snap: AccountSnapshot, permille: int
) -> None:
    without = reduced(evaluate(snap, LEVEL, GuardState(), RULES))
    in_flight = {p.key: (p.quantity * permille / 1000).quantize(D("0.001")) for p in snap.positions}
    state = GuardState(in_flight=frozen_map(in_flight))
    with_pending = reduced(evaluate(snap, LEVEL, state, RULES))
    for held in snap.positions:
        pending = in_flight[held.key]
        new = with_pending.get(held.key, ZERO)
        asked = without.get(held.key, ZERO)
        assert new + pending <= max(asked, pending)
        assert new + pending <= held.quantity


BUFFER = policies(
    {
        "kind": "buffer_floor",
        "metric": "margin_ratio",
        "floor": "30%",
        "restore": "20%",
        "order": "largest_loss",
    },
)


@FAST
@given(snapshots())
def test_buffer_when_breached_then_planned_cut_restores_the_target(snap: AccountSnapshot) -> None:
    from guard.core.margin import measure
    from guard.core.stress import reduced as apply

    decision = evaluate(snap, BUFFER, GuardState(), RULES)
    cut = reduced(decision)
    cross = {p.key for p in snap.positions if p.margin_mode is MarginMode.CROSS}
    cross_cut = {k: q for k, q in cut.items() if k in cross}
    if cross_cut:
        assert measure(apply(snap, cross_cut), RULES).cross_margin_ratio <= D("0.2")
    elif cross:
        assert measure(snap, RULES).cross_margin_ratio <= D("0.3")
