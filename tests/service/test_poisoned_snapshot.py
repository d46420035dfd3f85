"""A snapshot carrying a non-finite, negative, zero or absurd number anywhere (market specs, venue
figures) is refused at the boundary: no order, an audited hold naming the venue and field, an
alert; the other accounts keep being protected, and the account acts once its data is sane."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guard.core.domain import AccountSnapshot, Balance, Side, frozen_map
from guard.core.venues.paper import RULES
from guard.gateway.paper.book import SlippageModel
from guard.gateway.paper.path import PricePath
from guard.gateway.paper.venue import PaperVenue
from guard.service import AccountRuntime, GuardService
from guard.store import Store
from tests.builders import T0, D, spec
from tests.reliability.test_fault_matrix import POLICY
from tests.service.helpers import RecordingVenue

BTC = "BTC/USDT:USDT"
Poison = Callable[[AccountSnapshot], AccountSnapshot]


def _spec(**fields: object) -> Poison:
    def poison(snapshot: AccountSnapshot) -> AccountSnapshot:
        market = replace(snapshot.markets[BTC], **fields)  # type: ignore[arg-type]
        return replace(snapshot, markets=frozen_map({**snapshot.markets, BTC: market}))

    return poison


def _equity_nan(snapshot: AccountSnapshot) -> AccountSnapshot:
    balance: Balance = replace(snapshot.balance, venue_equity=D("NaN"))
    return replace(snapshot, balance=balance)


POISONS: dict[str, tuple[Poison, str]] = {
    "price tick NaN": (_spec(price_tick=D("NaN")), "price_tick = NaN"),
    "price tick 1e30": (_spec(price_tick=D("1e30")), "price_tick = 1E+30"),
    "minimum amount -1": (_spec(min_amount=D(-1)), "min_amount = -1"),
    "amount step 1e-30": (_spec(amount_step=D("1e-30")), "amount_step = 1E-30"),
    "venue equity NaN": (_equity_nan, "venue_equity = NaN"),
}


class PoisonedVenue(RecordingVenue):
    """The paper venue with the snapshots of some accounts poisoned while `poison` is set."""

    def __init__(self, venue: PaperVenue, victims: set[str]) -> None:
        super().__init__(venue)
        self.victims = victims
        self.poison: Poison | None = None

    async def fetch_snapshot(self, account: str) -> AccountSnapshot:
        snapshot = await self.venue.fetch_snapshot(account)
        if self.poison is not None and account in self.victims:
            return self.poison(snapshot)
        return snapshot


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[tuple[PoisonedVenue, GuardService, Store]]:
    path = PricePath({BTC: tuple((T0 + timedelta(minutes=m), D(61000)) for m in range(60))})
    venue = PaperVenue({BTC: spec(BTC)}, path, slippage=SlippageModel(D(0), D(0)))
    for account in ("victim", "healthy"):
        venue.open_account(account, D(6000))
        venue.seed_position(account, BTC, Side.LONG, D(1), D(60000), D(10))
    gateway = PoisonedVenue(venue, {"victim"})
    store = Store(f"sqlite:///{tmp_path / 'guard.db'}")
    store.create_schema()
    service = GuardService(
        store=store,
        accounts={
            name: AccountRuntime(name, RULES, gateway, POLICY)  # type: ignore[arg-type]
            for name in ("victim", "healthy")
        },
        clock=lambda: venue.now,
    )
    yield gateway, service, store
    store.dispose()


@pytest.mark.parametrize("case", sorted(POISONS))
async def test_tick_when_snapshot_poisoned_then_no_order_hold_names_field_and_others_protected(
    rig: tuple[PoisonedVenue, GuardService, Store], case: str
) -> None:
    gateway, service, store = rig
    poison, field = POISONS[case]
    gateway.poison = poison
    report = await service.tick("victim")
    assert report.plan is None and report.execution is None
    assert [p for p in gateway.sent if p.account == "victim"] == []
    assert len(report.holds) == 1 and field in report.holds[0].reason
    assert "paper" in report.holds[0].reason  # the venue is named
    audited = [e for e in store.tail(50, account="victim") if e.kind == "alert"]
    assert any(field in e.message for e in audited)
    ok, reasons = service.health.status()
    assert not ok and any(field in reason for reason in reasons)
    healthy = await service.tick("healthy")  # one bad account never stops the others
    assert healthy.execution is not None and healthy.execution.sent == 1
    gateway.poison = None
    recovered = await service.tick("victim")
    assert recovered.execution is not None and recovered.execution.sent == 1


SPEC_FIELDS = ["amount_step", "price_tick", "contract_size"]
POSITION_FIELDS = ["quantity", "mark_price"]
DATA_FIELDS = ["mark_price"]
NOT_POSITIVE = [D("NaN"), D("sNaN"), D("Infinity"), D("-Infinity"), D(0), D(-1), D("-0.0001")]


def _poison_field(where: str, name: str, bad: Decimal) -> Poison:
    def poison(snapshot: AccountSnapshot) -> AccountSnapshot:
        if where == "spec":
            return _spec(**{name: bad})(snapshot)
        if where == "position":
            first = replace(snapshot.positions[0], **{name: bad})  # type: ignore[arg-type]
            return replace(snapshot, positions=(first, *snapshot.positions[1:]))
        data = replace(snapshot.market_data[BTC], **{name: bad})  # type: ignore[arg-type]
        return replace(snapshot, market_data=frozen_map({**snapshot.market_data, BTC: data}))

    return poison


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    where=st.sampled_from(["spec", "position", "data"]),
    index=st.integers(min_value=0, max_value=2),
    bad=st.sampled_from(NOT_POSITIVE),
)
def test_tick_when_any_required_positive_field_not_positive_then_no_order(
    tmp_path_factory: pytest.TempPathFactory, where: str, index: int, bad: Decimal
) -> None:
    names = {"spec": SPEC_FIELDS, "position": POSITION_FIELDS, "data": DATA_FIELDS}[where]
    name = names[index % len(names)]
    folder = tmp_path_factory.mktemp("poison")
    path = PricePath({BTC: tuple((T0 + timedelta(minutes=m), D(61000)) for m in range(5))})
    venue = PaperVenue({BTC: spec(BTC)}, path, slippage=SlippageModel(D(0), D(0)))
    venue.open_account("victim", D(6000))
    venue.seed_position("victim", BTC, Side.LONG, D(1), D(60000), D(10))
    gateway = PoisonedVenue(venue, {"victim"})
    gateway.poison = _poison_field(where, name, bad)
    store = Store(f"sqlite:///{folder / 'guard.db'}")
    store.create_schema()
    runtime = AccountRuntime("victim", RULES, gateway, POLICY)  # type: ignore[arg-type]
    service = GuardService(store=store, accounts={"victim": runtime}, clock=lambda: venue.now)
    try:
        report = asyncio.run(service.tick("victim"))
    finally:
        store.dispose()
    assert gateway.sent == [], f"{where}.{name} = {bad} produced an order"
    assert report.holds or report.error
