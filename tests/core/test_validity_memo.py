"""The market-spec verdict remembered per spec object gives exactly the former computation's
problems (same messages, same order) for any spec and mark, on first sight and on every reuse."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from functools import partial

from hypothesis import given, settings
from hypothesis import strategies as st

from guard.core import validity
from guard.core.domain import MarginTier, MarketSpec
from guard.core.validity import (
    LARGEST_FEE_RATE,
    LARGEST_STEP_NOTIONAL,
    SMALLEST_INCREMENT,
    ZERO,
    _bounded,
    _check,
    _finite,
    _non_negative,
    _positive,
    market_problems,
)


def former_market_problems(venue: str, spec: MarketSpec, mark: Decimal | None) -> Iterator[str]:
    """guard.core.validity._market_problems as it was before the memo (989e23e), verbatim."""
    where = f"{venue} market {spec.symbol}"
    yield from _positive(where, "contract_size", spec.contract_size)
    for field, step in (("amount_step", spec.amount_step), ("price_tick", spec.price_tick)):
        yield from _positive(where, field, step)
        if _finite(step) and ZERO < step < SMALLEST_INCREMENT:
            yield f"{where}: {field} = {step} (must be at least {SMALLEST_INCREMENT})"
    yield from _non_negative(where, "min_amount", spec.min_amount)
    yield from _non_negative(where, "min_notional", spec.min_notional)
    yield from _positive(where, "max_order_amount", spec.max_order_amount)
    yield from _positive(where, "max_order_notional", spec.max_order_notional)
    yield from _bounded(where, "taker_fee_rate", spec.taker_fee_rate, LARGEST_FEE_RATE)
    if spec.funding_interval <= timedelta(0):
        yield f"{where}: funding_interval = {spec.funding_interval} (must be positive)"
    if mark is not None and _finite(mark) and mark > ZERO:
        if _finite(spec.price_tick) and spec.price_tick > mark:
            yield (f"{where}: price_tick = {spec.price_tick} (must be below the mark price {mark})")
        if _finite(spec.amount_step) and spec.amount_step * mark > LARGEST_STEP_NOTIONAL:
            yield (
                f"{where}: amount_step = {spec.amount_step} (one step is worth more than "
                f"{LARGEST_STEP_NOTIONAL} at the mark price {mark})"
            )
    previous_cap = ZERO
    for index, tier in enumerate(spec.tiers):
        tier_where = f"{where} tier {index}"
        yield from _non_negative(tier_where, "notional_floor", tier.notional_floor)
        if tier.notional_cap.is_nan() or tier.notional_cap <= tier.notional_floor:
            yield (
                f"{tier_where}: notional_cap = {tier.notional_cap} (must be above the floor "
                f"{tier.notional_floor})"
            )
        if not _finite(tier.maintenance_rate) or not ZERO <= tier.maintenance_rate < 1:
            yield f"{tier_where}: maintenance_rate = {tier.maintenance_rate} (must be in [0, 1))"
        yield from _non_negative(tier_where, "maintenance_deduction", tier.maintenance_deduction)
        yield from _check(
            tier_where,
            "max_leverage",
            tier.max_leverage,
            floor=ZERO,
            strict=True,
            want="a finite number > 0",
        )
        if _finite(tier.notional_floor) and tier.notional_floor < previous_cap:
            yield f"{tier_where}: notional_floor = {tier.notional_floor} (tiers overlap)"
        previous_cap = tier.notional_cap if _finite(tier.notional_cap) else previous_cap


def outcome(problems: Callable[[], Iterable[str]]) -> list[str] | type[BaseException]:
    """The problems listed, or the type of what was raised (e.g. a NaN tier floor compared)."""
    try:
        return list(problems())
    except ArithmeticError as error:
        return type(error)


SPECIAL = st.sampled_from([Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity")])
NUMBERS = st.one_of(
    st.decimals(min_value=-10, max_value=10, places=3),
    st.decimals(min_value=Decimal("1e-15"), max_value=Decimal("1e-9"), places=15),
    st.decimals(min_value=-(10**9), max_value=10**9, places=0),
    st.sampled_from([ZERO, Decimal("1"), Decimal("1.0"), Decimal("1.00"), Decimal("0.5")]),
    SPECIAL,
)
TIERS = st.builds(
    MarginTier,
    notional_floor=NUMBERS,
    notional_cap=NUMBERS,
    maintenance_rate=NUMBERS,
    maintenance_deduction=NUMBERS,
    max_leverage=st.one_of(st.none(), NUMBERS),
)
SPECS = st.builds(
    MarketSpec,
    symbol=st.sampled_from(["BTC/USDT:USDT", "ETH-USD"]),
    base=st.just("BTC"),
    quote=st.just("USDT"),
    contract_size=NUMBERS,
    amount_step=NUMBERS,
    price_tick=NUMBERS,
    min_amount=NUMBERS,
    min_notional=NUMBERS,
    max_order_amount=st.one_of(st.none(), NUMBERS),
    max_order_notional=st.one_of(st.none(), NUMBERS),
    tiers=st.lists(TIERS, max_size=3).map(tuple),
    funding_interval=st.sampled_from([timedelta(hours=8), timedelta(0), timedelta(hours=-1)]),
    taker_fee_rate=NUMBERS,
)
MARKS = st.one_of(st.none(), NUMBERS)


@settings(max_examples=400, deadline=None)
@given(spec=SPECS, marks=st.lists(MARKS, min_size=1, max_size=3), venue=st.sampled_from(["a", "b"]))
def test_market_problems_when_spec_checked_and_reused_then_former_result_every_time(
    spec: MarketSpec, marks: list[Decimal | None], venue: str
) -> None:
    for mark in marks:  # the first call computes the spec's verdict, the others reuse it
        assert_former_or_mended(
            outcome(partial(market_problems, venue, spec, mark)),
            outcome(partial(former_market_problems, venue, spec, mark)),
        )
    other = "b" if venue == "a" else "a"  # the venue is in the messages: its own verdict
    assert_former_or_mended(
        outcome(lambda: market_problems(other, spec, marks[0])),
        outcome(lambda: former_market_problems(other, spec, marks[0])),
    )


def assert_former_or_mended(
    new: list[str] | type[BaseException], former: list[str] | type[BaseException]
) -> None:
    """The former result, except where the former code raised comparing a NaN tier floor with
    its cap: that is mended, the floor is named as a problem (tests/core/test_validity.py)."""
    if former is InvalidOperation and isinstance(new, list):
        assert any(" tier " in problem and "notional_floor = " in problem for problem in new)
        return
    assert new == former


def test_market_problems_when_equal_spec_written_differently_then_its_own_messages() -> None:
    one = MarketSpec("BTC/USDT:USDT", "BTC", "USDT", min_amount=Decimal("-1.0"))
    same_value = replace(one, min_amount=Decimal("-1.00"))
    assert one == same_value
    assert "min_amount = -1.0 " in market_problems("paper", one, None)[0]
    assert "min_amount = -1.00 " in market_problems("paper", same_value, None)[0]


def test_market_problems_when_memo_full_then_starts_over_and_stays_right() -> None:
    specs = [
        MarketSpec(f"M{i}", "M", "USDT", min_amount=Decimal(-i - 1))
        for i in range(validity.SPEC_VERDICTS_LIMIT + 10)
    ]
    for spec in specs:
        assert market_problems("paper", spec, None) == list(
            former_market_problems("paper", spec, None)
        )
    assert len(validity._SPEC_VERDICTS) <= validity.SPEC_VERDICTS_LIMIT
    assert market_problems("paper", specs[0], None) == list(
        former_market_problems("paper", specs[0], None)
    )
