"""Engine: ladders with volatility metrics and units (liquidation distance counted in ATRs, the
mark's pullback from its best price, the ATR itself), holding with a reason on absent candles."""

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
VOL = {"measure": "atr", "timeframe": "1h", "bars": 3}

# 3.333 BTC long at 60000 on a 10,000 wallet: liquidation near 57271, 4.55 % away at 60000.
ATR_LADDER = {
    "kind": "exit_ladder",
    "metric": "liquidation_distance",
    "units": "volatility",
    "volatility": VOL,
    "bands": [{"trigger": "3 atr", "reduce": "25%"}],
    "rearm": "4 atr",
}


def candles(half_range: int, high: int | None = None) -> dict[str, CandleSeries]:
    """Four closed hourly bars around 60000 whose true range is 2 × half_range (ATR ÷ 60000)."""
    rows = [
        Bar(T0 - (4 - i) * HOUR, D(60000), D(high or 60000 + half_range), D(60000 - half_range),
            D(60000))
        for i in range(4)
    ]  # fmt: skip
    return {candle_key(SYMBOL, HOUR): CandleSeries(HOUR, tuple(rows))}


def decide(rule: dict[str, Any], found: dict[str, CandleSeries] | None, mark: str = "60000") -> Any:
    snap = snapshot([position(quantity="3.333", entry="60000", mark=mark)], wallet="10000", at=T0)
    return evaluate(snap, policies(rule), GuardState(), RULES, T0, candles=found)


def test_atr_ladder_when_distance_is_more_than_3_atr_then_no_order() -> None:
    # ATR 600 = 1 % of the mark: 4.55 % is 4.55 ATR, above the 3 ATR band
    assert reduced(decide(ATR_LADDER, candles(300))) == {}


def test_atr_ladder_when_volatility_doubles_then_the_same_distance_fires() -> None:
    # ATR 1800 = 3 % of the mark: 4.55 % is 1.52 ATR, inside the 3 ATR band
    decision = decide(ATR_LADDER, candles(900))
    assert reduced(decision) == {BTC: D("0.83325")}
    assert "1.52 atr" in decision.reductions[0].reasons[0]
    assert "trigger 3 atr" in decision.reductions[0].reasons[0]


def test_atr_ladder_when_no_candles_then_holds_with_a_reason_and_remembers_nothing() -> None:
    decision = decide(ATR_LADDER, None)
    assert reduced(decision) == {}
    [held] = [f for f in decision.findings if f.severity is Severity.WARNING]
    assert "cannot evaluate" in held.reason and "no candles" in held.reason
    assert "no order on absent data" in held.reason
    assert dict(decision.next_state.episodes) == {}


def test_atr_ladder_when_history_is_short_then_holds_and_says_how_many_bars() -> None:
    short = {k: CandleSeries(HOUR, v.bars[-2:]) for k, v in candles(900).items()}
    decision = decide(ATR_LADDER, short)
    assert reduced(decision) == {}
    assert any("needs 4 closed bars, the venue gave 2" in f.reason for f in decision.findings)


PULLBACK = {
    "kind": "exit_ladder",
    "metric": "pullback",
    "units": "volatility",
    "volatility": VOL,
    "bands": [{"trigger": "3 atr", "reduce": "25%"}, {"trigger": "5 atr", "reduce": "25%"}],
    "rearm": "1 atr",
}


def test_pullback_when_an_ordinary_pullback_of_2_atr_then_the_winner_is_kept() -> None:
    # best high 61200, mark 60000: 1.96 % under the high; ATR (61200 - 59550) / 60000 = 2.75 %
    # of the mark → 0.71 ATR, an ordinary pullback
    assert reduced(decide(PULLBACK, candles(450, high=61200), "60000")) == {}


def test_pullback_when_the_move_is_past_3_atr_then_reduces_only_its_step() -> None:
    # best high 60900, mark 57000: 6.40 % under it; ATR (60900 - 59700) / 57000 = 2.11 % → 3.04
    # ATR: past band 1 (3 ATR), short of band 2 (5 ATR)
    decision = decide(PULLBACK, candles(300, high=60900), "57000")
    assert reduced(decision) == {BTC: D("0.83325")}  # 25 % of the start size, not more


def test_volatility_metric_when_atr_above_its_band_then_reduces() -> None:
    rule = {
        "kind": "exit_ladder",
        "metric": "volatility",
        "volatility": VOL,
        "bands": [{"trigger": "2%", "reduce": "50%"}],
        "rearm": "1%",
    }
    assert reduced(decide(rule, candles(300))) == {}  # ATR 1 %
    assert reduced(decide(rule, candles(900))) == {BTC: D("1.6665")}  # ATR 3 %


def test_atr_ladder_when_alert_only_then_alerts_and_orders_nothing() -> None:
    decision = decide({**ATR_LADDER, "alert_only": True}, candles(900))
    assert reduced(decision) == {}
    assert [a.kind for a in decision.alerts] == ["rule_alert"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"units": "percent"}, "needs units: volatility"),
        ({"volatility": None}, "needs `volatility"),
        ({"metric": "margin_ratio"}, "units: volatility counts a move of the mark"),
        ({"volatility": {**VOL, "timeframe": "7m"}}, "timeframe must be one of"),
        ({"volatility": {**VOL, "bars": 1}}, "greater than or equal to 2"),
    ],
)
def test_schema_when_volatility_units_are_inconsistent_then_names_the_mistake(
    change: dict[str, Any], message: str
) -> None:
    rule = {**ATR_LADDER, **change}
    rule = {k: v for k, v in rule.items() if v is not None}
    with pytest.raises(ValidationError, match=message):
        policies(rule)


def test_describe_when_ladder_in_atr_units_then_says_atr_and_its_candles() -> None:
    [rule] = policies(ATR_LADDER).rules
    text = describe(rule)
    assert "falls to 3 atr reduce 25%" in text and "recovers past 4 atr" in text
    assert "atr over 3 closed 1h bars of the mark; holds without enough candles" in text


def test_realized_vol_units_when_distance_is_under_3_vol_then_reduces() -> None:
    # closes 60000, 60600, 60000, 60600: three returns of ±ln(1.01) = ±0.995 %, realized vol
    # √3 × 0.995 % = 1.72 %; 4.55 % from liquidation is 2.64 vol, inside the 3 vol band
    closes = [60000, 60600, 60000, 60600]
    bars = tuple(Bar(T0 - (4 - i) * HOUR, D(c), D(c), D(c), D(c)) for i, c in enumerate(closes))
    rule = {
        **ATR_LADDER,
        "volatility": {**VOL, "measure": "realized_vol"},
        "bands": [{"trigger": "3 vol", "reduce": "25%"}],
        "rearm": "4 vol",
    }
    found = {candle_key(SYMBOL, HOUR): CandleSeries(HOUR, bars)}
    decision = decide(rule, found)
    assert reduced(decision) == {BTC: D("0.83325")}
    assert "vol" in decision.reductions[0].reasons[0]
