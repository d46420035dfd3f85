"""The tick summary's JSON text written without the converted copy is the former text exactly
(json.dumps(to_jsonable(value), sort_keys=True)) for any value with str keys, and fails alike."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guard.core.domain import MarginMode, Side
from guard.store.codec import json_text, to_jsonable


def former(value: Any) -> str:
    return json.dumps(to_jsonable(value), sort_keys=True)


LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.decimals(min_value=-(10**6), max_value=10**6, places=8),
    st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=2))])),
    st.sampled_from([Side.LONG, Side.SHORT, MarginMode.CROSS, MarginMode.ISOLATED]),
    st.frozensets(st.integers(0, 5), max_size=3),
)
VALUES = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(st.text(max_size=6), inner, max_size=4),
    ),
    max_leaves=20,
)


@settings(max_examples=500, deadline=None)
@given(VALUES)
def test_json_text_when_str_keyed_value_then_former_text(value: Any) -> None:
    assert json_text(value) == former(value)


@pytest.mark.parametrize("value", [{"a": object()}, [date(2026, 1, 1)], {"m": {1, 2}}])
def test_json_text_when_value_not_encodable_or_set_then_same_as_former(value: Any) -> None:
    try:
        expected: object = former(value)
    except TypeError:
        expected = TypeError
    try:
        got: object = json_text(value)
    except TypeError:
        got = TypeError
    assert got == expected


def test_json_text_when_tick_summary_then_former_text() -> None:
    summary = {
        "equity": Decimal("1234.5600"),
        "worst_liquidation_distance": Decimal("1E+2"),
        "open_breaches": 0,
        "ticked_at": datetime(2026, 12, 1, 20, 0, tzinfo=UTC),
        "positions": [{"symbol": "BTC/USDT:USDT", "side": Side.LONG, "leverage": None}],
    }
    assert json_text(summary) == former(summary)
