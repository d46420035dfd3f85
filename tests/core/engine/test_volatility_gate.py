"""Engine: `act_within`, the volatility gate on a ladder's bands — a band fires only while the
liquidation distance is within N units of the rule's volatility measure; absent candles leave the
gate open (it only ever holds back); a held-back breach does not count towards confirmation."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from guard.core.domain import GuardState, PositionKey, Severity, Side
from guard.core.engine import evaluate
from guard.core.policy.describe import describe
from guard.core.venues.paper import RULES
from guard.core.volatility import Bar, CandleSeries, candle_key
from tests.builders import T0, position, snapshot
from tests.core.engine.helpers import policies, reduced

D = Decimal
HOUR = timedelta(hours=1)
SYMBOL = "BTC/USDT:USDT"
BTC = PositionKey(SYMBOL, Side.LONG)

# 3.333 BTC long at 60000 on a 10,000 wallet (20x): liquidation near 57271. At 59000 the mark
# has used up ~36.6 % of the starting room (past the 35 % band) and is 2.93 % from liquidation.
GATED = {
    "kind": "exit_ladder",
    "metric": "liquidation_progress",
    "bands": [{"trigger": "35%", "reduce": "50%"}],
    "rearm": "20%",
    "volatility": {"measure": "atr", "timeframe": "1h", "bars": 3},
    "act_within": "2 atr",
}


def candles(half_range: int) -> dict[str, CandleSeries]:
    """Four closed hourly bars around 59000 whose true range is 2 × half_range."""
    rows = tuple(
        Bar(T0 - (4 - i) * HOUR, D(59000), D(59000 + half_range), D(59000 - half_range), D(59000))
        for i in range(4)
    )
    return {candle_key(SYMBOL, HOUR): CandleSeries(HOUR, rows)}


def tick(minute: int, mark: str) -> Any:
    return snapshot(
        [position(quantity="3.333", entry="60000", mark=mark, leverage="20")],
        wallet="10000",
        at=T0 + timedelta(minutes=minute),
    )


def dip(rule: dict[str, Any], found: dict[str, CandleSeries] | None) -> Any:
    """Entry at 60000 (the starting room is remembered), then the mark at 59000 a minute later."""
    first = evaluate(tick(0, "60000"), policies(rule), GuardState(), RULES, candles=found)
    assert reduced(first) == {}
    return evaluate(tick(1, "59000"), policies(rule), first.next_state, RULES, candles=found)


def test_gate_when_the_distance_is_many_atr_then_a_slow_move_past_the_band_holds() -> None:
    # ATR 600 ÷ 59000 = 1.02 %: 2.93 % from liquidation is 2.88 ATR, more than act_within 2
    decision = dip(GATED, candles(300))
    assert reduced(decision) == {}
    [held] = [f for f in decision.findings if "act_within" in f.reason]
    assert held.severity is Severity.INFO
    assert "2.88 atr, more than act_within 2 atr" in held.reason and "holding" in held.reason
    assert dict(decision.next_state.episodes) == {}


def test_gate_when_volatility_is_high_then_the_same_move_sells_its_band() -> None:
    # ATR 1800 ÷ 59000 = 3.05 %: 2.93 % is 0.96 ATR, within act_within 2
    decision = dip(GATED, candles(900))
    assert reduced(decision) == {BTC: D("1.6665")}


def test_gate_when_no_candles_then_the_gate_is_open_and_the_band_sells() -> None:
    assert reduced(dip(GATED, None)) == {BTC: D("1.6665")}


def test_gate_when_a_held_back_breach_then_confirmation_starts_over() -> None:
    rule = policies({**GATED, "confirm_ticks": 2})
    calm, wild = candles(300), candles(900)
    state = evaluate(tick(0, "60000"), rule, GuardState(), RULES, candles=wild).next_state
    outcomes = []
    for minute, found in enumerate((wild, calm, wild, wild), start=1):
        decision = evaluate(tick(minute, "59000"), rule, state, RULES, candles=found)
        outcomes.append(reduced(decision))
        state = decision.next_state
    # held 1 of 2, then the gate holds it back (the count restarts), held 1 of 2, then it sells
    assert outcomes == [{}, {}, {}, {BTC: D("1.6665")}]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"act_within": "8%"}, "act_within counts units of the rule's volatility measure"),
        ({"act_within": "0 atr"}, "act_within must be a positive multiple"),
        ({"volatility": None}, "the candles behind its metric, units or act_within"),
    ],
)
def test_schema_when_act_within_is_inconsistent_then_names_the_mistake(
    change: dict[str, Any], message: str
) -> None:
    rule = {k: v for k, v in {**GATED, **change}.items() if v is not None}
    with pytest.raises(ValidationError, match=message):
        policies(rule)


def test_describe_when_gated_then_says_the_gate_and_that_it_opens_without_candles() -> None:
    [rule] = policies(GATED).rules
    text = describe(rule)
    assert "atr over 3 closed 1h bars of the mark; a band acts only while the liquidation " in text
    assert "distance is within 2 atr (open without enough candles)" in text
    assert "holds without enough candles" not in text
