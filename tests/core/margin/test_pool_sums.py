"""The cross pool's per-key sums of the others: the O(n) path gives the definition's Decimal (the
left-to-right sum, digit for digit) at every size, and small pools take the definition itself."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from guard.core import margin_pool
from guard.core.domain import Side
from guard.core.margin_pool import _sums_direct, _sums_linear, _sums_without

KEYS = st.tuples(st.sampled_from(["A", "B", "C", "D", "E"]), st.sampled_from(list(Side)))
VALUES = st.one_of(
    st.integers(-(10**12), 10**12).map(Decimal),
    st.builds(lambda n, e: Decimal(n).scaleb(-e), st.integers(-(10**9), 10**9), st.integers(0, 9)),
    st.builds(
        lambda a, b: Decimal(a) / Decimal(b), st.integers(-(10**9), 10**9), st.integers(1, 99)
    ),
)
TERMS = st.lists(st.tuples(KEYS, VALUES), max_size=24)


def digits(sums: dict[tuple[str, Side], Decimal]) -> dict[tuple[str, Side], object]:
    return {key: value.as_tuple() for key, value in sums.items()}


@settings(max_examples=500, deadline=None)
@given(TERMS)
def test_sums_when_any_size_then_linear_and_dispatch_give_the_definitions_digits(
    terms: list[tuple[tuple[str, Side], Decimal]],
) -> None:
    keys, values = [k for k, _ in terms], [v for _, v in terms]
    expected = digits(_sums_direct(keys, values))
    assert digits(_sums_linear(keys, values)) == expected
    assert digits(_sums_without(keys, values)) == expected
    assert list(_sums_without(keys, values)) == list(dict.fromkeys(keys))  # key order kept


def test_sums_when_more_than_direct_limit_then_linear_path_taken(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    taken: list[int] = []
    monkeypatch.setattr(margin_pool, "_sums_linear", lambda k, v: taken.append(len(v)) or {})
    size = margin_pool.DIRECT_UP_TO
    keys = [(f"S{i}", Side.LONG) for i in range(size + 1)]
    _sums_without(keys[:size], [Decimal(1)] * size)
    _sums_without(keys, [Decimal(1)] * (size + 1))
    assert taken == [size + 1]
