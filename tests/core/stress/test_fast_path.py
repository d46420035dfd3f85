"""The stress fast path (one pass, no rebuilt positions) equals assessing the shocked snapshot."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from guard.core.domain import MarginMode, Side
from guard.core.stress import Shock, assess, shocked, stress, stress_each
from guard.core.venues.dydx import RULES as DYDX
from guard.core.venues.paper import RULES as PAPER
from tests.builders import D, position, snapshot

SYMBOLS = ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT", "DOGE/USDT:USDT"]


@st.composite
def cases(draw: st.DrawFn) -> tuple[object, Shock, object, Decimal]:
    held = []
    for symbol in draw(st.lists(st.sampled_from(SYMBOLS), min_size=1, max_size=4, unique=True)):
        mode = draw(st.sampled_from([MarginMode.CROSS, MarginMode.ISOLATED]))
        entry = draw(st.decimals(min_value=D(1), max_value=D(90000), places=2))
        mark = entry * draw(st.decimals(min_value=D("0.5"), max_value=D("1.5"), places=3))
        held.append(
            position(
                symbol,
                draw(st.sampled_from([Side.LONG, Side.SHORT])),
                str(draw(st.decimals(min_value=D("0.001"), max_value=D(500), places=3))),
                str(entry),
                str(mark),
                mode,
                isolated_margin=str(draw(st.decimals(min_value=D(1), max_value=D(50000), places=2)))
                if mode is MarginMode.ISOLATED
                else None,
            )
        )
    wallet = str(draw(st.decimals(min_value=D(-1000), max_value=D(10**6), places=2)))
    anchor = draw(st.one_of(st.none(), st.sampled_from(SYMBOLS)))
    shock = Shock(
        "s",
        draw(st.decimals(min_value=D("-0.9"), max_value=D("0.9"), places=3)),
        symbols=tuple(
            draw(st.lists(st.sampled_from([*SYMBOLS, "*", "B*"]), min_size=1, max_size=2))
        ),
        anchor=anchor,
        betas={"ETH*": D("1.3")} if draw(st.booleans()) else {},
        default_beta=D("0.5") if anchor else D(0),
    )
    venue = draw(st.sampled_from([PAPER, DYDX]))
    safety = draw(st.decimals(min_value=D(0), max_value=D("0.5"), places=2))
    return snapshot(held, wallet=wallet), shock, venue, safety


@settings(max_examples=300, deadline=None)
@given(cases())
def test_stress_when_fast_path_then_identical_to_assessing_the_shocked_snapshot(
    case: tuple[object, Shock, object, Decimal],
) -> None:
    snap, shock, venue, safety = case
    fast = stress(snap, shock, venue, safety)  # type: ignore[arg-type]
    slow = assess(shocked(snap, shock), venue, safety)  # type: ignore[arg-type]
    assert fast.pools == slow


@settings(max_examples=150, deadline=None)
@given(cases(), cases())
def test_stress_each_when_several_shocks_then_each_as_assessing_its_shocked_snapshot(
    case: tuple[object, Shock, object, Decimal], other: tuple[object, Shock, object, Decimal]
) -> None:
    """The stress rule reads the positions once for all its shocks (issue 17)."""
    snap, shock, venue, safety = case
    second = other[1]
    results = stress_each(snap, [shock, second, shock], venue, safety)  # type: ignore[arg-type]
    assert [r.shock for r in results] == [shock, second, shock]
    for result in results:
        assert result.pools == assess(shocked(snap, result.shock), venue, safety)  # type: ignore[arg-type]
        assert result == stress(snap, result.shock, venue, safety)  # type: ignore[arg-type]
