"""Random tick sequences for the rule reference tests: a few positions (hedged at times, cross or
isolated, funding intervals of 1, 4 and 8 h) whose marks and funding rates move from tick to
tick, evaluated by the engine so the rules' memory carries over; each tick's RuleContext is built
as evaluate builds it. Sequences stop before a pool's equity reaches 0 (an infinite margin ratio)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from hypothesis import strategies as st

from guard.core.domain import AccountSnapshot, GuardState, MarginMode, Position, Side, frozen_map
from guard.core.engine import _drawdown, _updated_peaks, evaluate
from guard.core.margin import measure
from guard.core.policy.rules import RuleContext
from guard.core.policy.schema import PolicySet
from guard.core.venues.paper import RULES
from tests.builders import T0, snapshot, spec

D = Decimal
SYMBOLS = ("AAA/USDT:USDT", "BBB/USDT:USDT", "CCC/USDT:USDT", "DDD/USDT:USDT")
INTERVALS = (timedelta(hours=1), timedelta(hours=4), timedelta(hours=8))


def _scaled(draw: st.DrawFn, low: int, high: int, places: int) -> Decimal:
    return D(draw(st.integers(low, high))).scaleb(-places)


@st.composite
def ticks(draw: st.DrawFn) -> list[AccountSnapshot]:
    """1–8 snapshots of one account, minutes to hours apart, marks moving up to ±8 % a tick."""
    symbols = draw(st.lists(st.sampled_from(SYMBOLS), min_size=1, max_size=4, unique=True))
    marks = {s: _scaled(draw, 5_000, 15_000, 2) for s in symbols}
    held: list[Position] = []
    for symbol in symbols:
        sides = draw(st.lists(st.sampled_from(list(Side)), min_size=1, max_size=2, unique=True))
        for side in sides:
            mode = draw(st.sampled_from([MarginMode.CROSS, MarginMode.CROSS, MarginMode.ISOLATED]))
            quantity = _scaled(draw, 1, 100_000, 3)
            entry = (marks[symbol] * _scaled(draw, 950, 1050, 3)).quantize(D("0.01"))
            leverage = D(draw(st.integers(1, 20)))
            margin = quantity * entry / leverage if mode is MarginMode.ISOLATED else None
            held.append(Position(symbol, side, quantity, entry, entry, mode, leverage, margin))
    markets = {s: spec(s, funding_interval=draw(st.sampled_from(INTERVALS))) for s in symbols}
    wallet = str(_scaled(draw, 1_000, 2_000_000, 2))
    drift = draw(st.integers(-40, 40))  # a trend per mille a tick, so bands are reached
    at = T0 + timedelta(minutes=draw(st.integers(0, 24 * 60)))
    found: list[AccountSnapshot] = []
    for _ in range(draw(st.integers(1, 8))):
        funding = {s: str(_scaled(draw, -300, 300, 6)) for s in symbols}
        positions = [replace(p, mark_price=marks[p.symbol]) for p in held]
        found.append(snapshot(positions, wallet=wallet, at=at, markets=markets, funding=funding))
        for s in symbols:
            move = 1000 + drift + draw(st.integers(-40, 40))
            marks[s] = (marks[s] * D(move).scaleb(-3)).quantize(D("0.01"))
        at += timedelta(minutes=draw(st.integers(0, 300)))
    return found


def contexts(
    snapshots: list[AccountSnapshot], policies: PolicySet
) -> Iterator[Callable[[], RuleContext]]:
    """Per tick, a maker of that tick's RuleContext (a fresh one per call: rules fill its
    selection cache), the state carried by evaluating every policy with the engine."""
    state = GuardState()
    for snap in snapshots:
        metrics = measure(snap, RULES)
        if any(not m.margin_ratio.is_finite() for m in metrics.positions):
            return  # a pool at or below 0 equity: the former describe could not show its ratio
        peaks = _updated_peaks(state.equity_peaks, snap.taken_at, metrics.equity)
        drawdown = _drawdown(peaks, metrics.equity)
        yield partial(RuleContext, snap, metrics, state, RULES, drawdown, peaks, frozen_map())
        state = evaluate(snap, policies, state, RULES).next_state


def outcome(
    rule_function: Callable[[Any, RuleContext], object],
    rule: object,
    context: Callable[[], RuleContext],
) -> str:
    """What a rule function gave on a fresh context, to the digit (the repr of a Decimal keeps its
    exponent) and in its mappings' order, or the exception it raised."""
    try:
        return repr(rule_function(rule, context()))
    except Exception as error:  # compared, not hidden: both versions must raise alike
        return f"raised {type(error).__name__}"
