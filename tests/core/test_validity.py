"""A snapshot is fit to act on only when every number is finite and in its domain: each poisoned
field is named with its venue, and a clean snapshot has no problem."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guard.core.domain import AccountSnapshot, Balance, MarginMode, frozen_map
from guard.core.validity import snapshot_problems
from tests.builders import D, position, snapshot, spec

BTC = "BTC/USDT:USDT"


def clean() -> AccountSnapshot:
    return snapshot([position(BTC, quantity="0.5", entry="60000")])


def with_spec(base: AccountSnapshot, **fields: object) -> AccountSnapshot:
    market = replace(base.markets[BTC], **fields)  # type: ignore[arg-type]
    return replace(base, markets=frozen_map({BTC: market}))


def with_position(base: AccountSnapshot, **fields: object) -> AccountSnapshot:
    return replace(base, positions=(replace(base.positions[0], **fields),))  # type: ignore[arg-type]


def test_problems_when_snapshot_clean_then_none() -> None:
    assert snapshot_problems(clean()) == ()


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"price_tick": D("NaN")}, "price_tick = NaN"),
        ({"price_tick": D("1e30")}, "price_tick = 1E+30 (must be below the mark price"),
        ({"min_amount": D(-1)}, "min_amount = -1"),
        ({"amount_step": D("1e-30")}, "amount_step = 1E-30 (must be at least"),
        ({"amount_step": D(0)}, "amount_step = 0 (must be a finite number > 0)"),
        ({"amount_step": D("1e9")}, "amount_step = 1E+9 (one step is worth more than 10000000"),
        ({"contract_size": D("-Infinity")}, "contract_size = -Infinity"),
        ({"taker_fee_rate": D("0.5")}, "taker_fee_rate = 0.5"),
    ],
)
def test_problems_when_market_spec_poisoned_then_venue_market_and_field_named(
    fields: dict[str, object], named: str
) -> None:
    problems = snapshot_problems(with_spec(clean(), **fields))
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"paper market {BTC}: ")
    assert named in problems[0]


def test_problems_when_venue_equity_nan_then_balance_field_named() -> None:
    base = clean()
    poisoned = replace(base, balance=Balance("USDT", D(10000), venue_equity=D("NaN")))
    assert snapshot_problems(poisoned) == (
        "paper balance USDT: venue_equity = NaN (must be a finite number)",
    )


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"quantity": D(0)}, "quantity = 0"),
        ({"mark_price": D("-5")}, "mark_price = -5"),
        ({"entry_price": D("sNaN")}, "entry_price = sNaN"),
        ({"leverage": D(0)}, "leverage = 0"),
        ({"isolated_margin": D(-1)}, "isolated_margin = -1"),
        ({"margin_mode": MarginMode.ISOLATED}, "isolated_margin is unknown"),
    ],
)
def test_problems_when_position_poisoned_then_position_field_named(
    fields: dict[str, object], named: str
) -> None:
    problems = snapshot_problems(with_position(clean(), **fields))
    assert any(named in p and f"paper position {BTC} long" in p for p in problems), problems


def test_problems_when_position_reported_twice_or_without_spec_then_named() -> None:
    base = clean()
    twice = replace(base, positions=base.positions * 2)
    assert any("reported twice" in p for p in snapshot_problems(twice))
    orphan = replace(base, markets=frozen_map({}))
    assert any("has no market spec" in p for p in snapshot_problems(orphan))


def test_problems_when_funding_rate_absurd_then_market_data_named() -> None:
    base = clean()
    data = replace(base.market_data[BTC], funding_rate=D(3))
    poisoned = replace(base, market_data=frozen_map({BTC: data}))
    assert snapshot_problems(poisoned) == (
        f"paper market data {BTC}: funding_rate = 3 (must be a finite number within ±1)",
    )


def test_problems_when_tiers_overlap_or_rate_above_one_then_named() -> None:
    tiers = spec().tiers
    broken = (replace(tiers[0], maintenance_rate=D("1.5")), *tiers[1:])
    problems = snapshot_problems(with_spec(clean(), tiers=broken))
    assert problems == (f"paper market {BTC} tier 0: maintenance_rate = 1.5 (must be in [0, 1))",)


BAD_NUMBERS = st.sampled_from(
    [D("NaN"), D("sNaN"), D("Infinity"), D("-Infinity"), D(0), D(-1), D("-1e-9")]
)
POSITIVE_SPEC_FIELDS = ["amount_step", "price_tick", "contract_size"]
POSITIVE_POSITION_FIELDS = ["quantity", "mark_price"]


@settings(max_examples=200, deadline=None)
@given(
    where=st.sampled_from(["spec", "position"]),
    spec_field=st.sampled_from(POSITIVE_SPEC_FIELDS),
    position_field=st.sampled_from(POSITIVE_POSITION_FIELDS),
    bad=BAD_NUMBERS,
)
def test_problems_when_positive_field_not_positive_then_refused(
    where: str, spec_field: str, position_field: str, bad: Decimal
) -> None:
    base = clean()
    poisoned = (
        with_spec(base, **{spec_field: bad})
        if where == "spec"
        else with_position(base, **{position_field: bad})
    )
    assert snapshot_problems(poisoned) != ()


TIER_FIELDS = [
    "notional_floor",
    "notional_cap",
    "maintenance_rate",
    "maintenance_deduction",
    "max_leverage",
]


@settings(max_examples=200, deadline=None)
@given(field=st.sampled_from(TIER_FIELDS), index=st.sampled_from([0, 1]), bad=BAD_NUMBERS)
def test_problems_when_tier_field_not_a_number_then_named_not_raised(
    field: str, index: int, bad: Decimal
) -> None:
    tiers = list(spec().tiers)
    if field in ("notional_cap", "max_leverage") and bad.is_infinite() and not bad.is_signed():
        bad = D("NaN")  # an open-ended top tier and no leverage cap are legitimate infinities
    if bad.is_zero() and field in ("notional_floor", "maintenance_rate", "maintenance_deduction"):
        bad = D("-1")  # zero is a real floor, rate and deduction
    tiers[index] = replace(tiers[index], **{field: bad})
    problems = snapshot_problems(with_spec(clean(), tiers=tuple(tiers)))
    assert any(f"tier {index}" in problem for problem in problems), problems
