"""The paper venue's settled snapshot (advance, then the snapshot its last liquidation check
built) is exactly the snapshot taken after advancing, through funding, liquidations and
bankruptcies, for every account; and the book ends in the same state."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guard.core.domain import Side
from guard.gateway.paper.scenarios import BUILT_IN, scenario
from guard.gateway.paper.venue import PaperVenue
from tests.builders import T0, D
from tests.gateway.paper.test_venue import BTC, venue

ACCOUNTS = ("a", "b", "c")


def book_state(v: PaperVenue) -> list[object]:
    return [
        (
            name,
            acct.wallet,
            repr(acct.positions),
            acct.min_equity,
            repr(acct.liquidations),
            acct.shortfall_absorbed,
            acct.funding_paid,
        )
        for name, acct in sorted(v.accounts.items())
    ]


@pytest.mark.parametrize("name", sorted(BUILT_IN))
@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 96), steps=st.lists(st.integers(1, 240), min_size=4, max_size=40))
def test_settled_snapshot_when_scenario_stepped_then_same_as_advance_then_snapshot(
    name: str, seed: int, steps: list[int]
) -> None:
    built = scenario(name, seed)
    former, settled = built.venue(ACCOUNTS), built.venue(ACCOUNTS)
    moment = former.now
    for index, minutes in enumerate(steps):
        moment = min(moment + timedelta(minutes=minutes), built.end)
        account = ACCOUNTS[index % len(ACCOUNTS)]
        former.advance_to(moment)
        expected = former.snapshot(account)
        got = settled.settled_snapshot(moment, account)
        assert got == expected
        assert repr(got) == repr(expected)  # the same figures, written the same way
        assert book_state(settled) == book_state(former)
    assert settled.calls["fetch_snapshot"] == len(steps)


def test_settled_snapshot_when_account_liquidated_or_bankrupt_then_snapshot_after_it() -> None:
    # calm at the first stop (a snapshot checked), crashed at the last: liquidated there
    v = venue({BTC: [(0, "60000"), (1, "60000"), (2, "30000")]})
    w = venue({BTC: [(0, "60000"), (1, "60000"), (2, "30000")]})
    for book in (v, w):
        book.open_account("a", D(6000))
        book.seed_position("a", BTC, Side.LONG, D("1"), D("60000"), D(10))
    v.advance_to(T0 + timedelta(minutes=2))
    got = w.settled_snapshot(T0 + timedelta(minutes=2), "a")
    assert v.accounts["a"].liquidations and got.positions == ()
    assert got == v.snapshot("a") and repr(got) == repr(v.snapshot("a"))


def test_settled_snapshot_when_then_given_then_it_runs_before_the_snapshot() -> None:
    v = venue({BTC: [(0, "60000"), (10, "59000")]})
    v.open_account("a", D(6000))
    seen: list[object] = []
    later = T0 + timedelta(minutes=5)
    got = v.settled_snapshot(later, "a", then=lambda: seen.append(v.now))
    assert seen == [later] and got.taken_at == later
