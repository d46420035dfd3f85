"""The stream pre-check (guard.core.wake) with plain values and hypothesis properties: a band
boundary crossed, a move of a fraction of the distance to liquidation or a changed size wakes a
full tick; a small move inside the bands does not; band marks follow each metric's formula."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from guard.core.domain import Side
from guard.core.policy.loading import parse_policy
from guard.core.policy.schema import PolicySet
from guard.core.policy.schema_ladders import LadderMetric
from guard.core.wake import PositionFacts, StreamUpdate, _mark_at, wake_reason

AT = datetime(2026, 12, 1, tzinfo=UTC)
FRACTION = Decimal("0.1")

prices = st.decimals(min_value=Decimal("1"), max_value=Decimal("100000"), places=2)


def _long(mark: Decimal, liq: Decimal | None, triggers: tuple[Decimal, ...] = ()) -> PositionFacts:
    return PositionFacts("BTC/USDT:USDT", Side.LONG, Decimal("2"), mark, liq, triggers)


def _mark(price: Decimal) -> StreamUpdate:
    return StreamUpdate("BTC/USDT:USDT", AT, mark_price=price)


@given(last=prices, new=prices, trigger=prices)
def test_precheck_when_mark_crosses_a_band_boundary_then_wakes(
    last: Decimal, new: Decimal, trigger: Decimal
) -> None:
    crossed = new != last and min(last, new) <= trigger <= max(last, new)
    reason = wake_reason([_long(last, None, (trigger,))], _mark(new), FRACTION)
    assert (reason is not None) == crossed


@given(
    last=prices,
    liq=prices,
    move=st.decimals(min_value=Decimal("-1"), max_value=Decimal("1"), places=4),
)
def test_precheck_when_mark_moves_a_fraction_of_liquidation_distance_then_wakes(
    last: Decimal, liq: Decimal, move: Decimal
) -> None:
    new = last + move * abs(last - liq)
    reason = wake_reason([_long(last, liq)], _mark(new), FRACTION)
    expected = new > 0 and new != last and abs(new - last) >= FRACTION * abs(last - liq)
    assert (reason is not None) == expected


@given(size=st.decimals(min_value=Decimal("-50"), max_value=Decimal("50"), places=3))
def test_precheck_when_stream_size_differs_from_last_evaluation_then_wakes(size: Decimal) -> None:
    update = StreamUpdate("BTC/USDT:USDT", AT, account="a", quantity=size)
    reason = wake_reason([_long(Decimal(100), Decimal(50))], update, FRACTION)
    assert (reason is not None) == (size != Decimal("2"))


def test_precheck_when_small_move_inside_bands_then_sleeps() -> None:
    facts = [_long(Decimal(100), Decimal(50), (Decimal(90), Decimal(80)))]
    assert wake_reason(facts, _mark(Decimal("96")), FRACTION) is None
    assert wake_reason(facts, _mark(Decimal("94.9")), FRACTION) is not None  # 5.1 >= 10 % of 50
    assert wake_reason(facts, _mark(Decimal("96")), Decimal("0.05")) is not None


def test_precheck_when_other_symbol_or_new_position_then_only_size_wakes() -> None:
    facts = [_long(Decimal(100), Decimal(50), (Decimal(90),))]
    other = StreamUpdate("ETH/USDT:USDT", AT, mark_price=Decimal(1))
    assert wake_reason(facts, other, FRACTION) is None
    opened = StreamUpdate("ETH/USDT:USDT", AT, account="a", quantity=Decimal("-1"))
    assert wake_reason(facts, opened, FRACTION) is not None


@given(
    liq=prices,
    level=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("0.9"), places=2),
    long=st.booleans(),
)
def test_band_mark_when_liquidation_distance_then_distance_at_that_mark_is_the_level(
    liq: Decimal, level: Decimal, long: bool
) -> None:
    mark = _mark_at(LadderMetric.LIQUIDATION_DISTANCE, level, long, Decimal(1), liq)
    assert mark is not None
    distance = (mark - liq) / mark if long else (liq - mark) / mark
    assert abs(distance - level) < Decimal("1e-20")


def test_facts_when_default_policy_then_ladder_bands_become_marks() -> None:
    from guard.core.domain import AccountSnapshot, Balance, Decision, GuardState, Position
    from guard.core.position_risk import PositionRisk
    from guard.core.wake import facts_of

    text = """
version: 1
name: t
rules:
  - id: ladder
    kind: exit_ladder
    metric: liquidation_distance
    bands: [{trigger: "10%", reduce: "50%"}]
    rearm: "20%"
"""
    policy, _ = parse_policy(text, "t.yaml")
    position = Position("BTC/USDT:USDT", Side.LONG, Decimal(1), Decimal(100), Decimal(100))
    snapshot = AccountSnapshot("a", "binance", AT, Balance("USDT", Decimal(100)), (position,))
    risk = PositionRisk(
        "BTC/USDT:USDT", "long", "cross", Decimal(1), Decimal(100), Decimal(2), Decimal(81), None
    )
    decision = Decision("a", AT, (), (), (), GuardState(), positions=(risk,))
    (facts,) = facts_of(snapshot, decision, PolicySet.of([("t.yaml", policy)]))
    assert facts.triggers == (Decimal(90), Decimal("101.25"))
    assert wake_reason([facts], _mark(Decimal("89.9")), Decimal(1)) is not None
