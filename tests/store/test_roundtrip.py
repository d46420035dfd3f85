"""Decimals and aware timestamps come back from the database exactly, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guard.core.domain import (
    GuardState,
    LadderEpisode,
    MarginMode,
    OrderPlan,
    OrderResult,
    OrderSide,
    OrderStatus,
    Side,
    frozen_map,
)
from guard.store import AccountInfo, Store
from guard.store.types import UTCMicros

T0 = datetime(2024, 8, 5, 12, 30, 15, 123456, tzinfo=UTC)

decimals = st.decimals(
    min_value=Decimal("-1e12"), max_value=Decimal("1e12"), allow_nan=False, places=18
) | st.sampled_from(
    [
        Decimal("0.00000001"),
        Decimal("1E-18"),
        Decimal("123456789.123456789123456789"),
        Decimal("1.000"),
        Decimal("-0.0"),
    ]
)
moments = st.datetimes(
    min_value=datetime(1971, 1, 1),  # noqa: DTZ001 (hypothesis bounds are naive by design)
    max_value=datetime(2200, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)


def plan(client_id: str, quantity: Decimal, limit: Decimal | None) -> OrderPlan:
    return OrderPlan(
        account="acct",
        symbol="BTC/USDT:USDT",
        side=OrderSide.SELL,
        quantity=quantity,
        position_side=Side.LONG,
        margin_mode=MarginMode.CROSS,
        client_order_id=client_id,
        limit_price=limit,
        rule_ids=("r1",),
        reason="test",
        steps=("s",),
    )


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(quantity=decimals, price=decimals, at=moments)
def test_intent_when_written_and_read_then_decimals_and_time_are_exact(
    any_store: Store, quantity: Decimal, price: Decimal, at: datetime
) -> None:
    client_id = f"c{abs(hash((quantity, price, at)))}"
    any_store.admit(
        "acct",
        [plan(client_id, quantity, price)],
        at,
        tick_id=None,
        fingerprint=None,
        actor="t",
        dry_run=False,
        state=None,
    )
    any_store.update_intent(
        OrderResult(client_id, OrderStatus.FILLED, quantity, average_price=price, fee=price), at
    )
    (stored,) = [i for i in any_store.intents("acct") if i.client_order_id == client_id]
    assert stored.quantity == quantity and str(stored.quantity) == str(quantity)
    assert str(stored.limit_price) == str(price)
    assert str(stored.average_price) == str(price)
    assert stored.created_at == at and stored.created_at.tzinfo is not None


def test_time_when_written_with_other_offset_then_same_instant_in_utc(any_store: Store) -> None:
    tokyo = datetime(2024, 8, 5, 9, 0, 0, 1, tzinfo=timezone(timedelta(hours=9)))
    any_store.register_accounts([AccountInfo("a", "paper", False, Decimal("5.5"))], tokyo)
    (account,) = any_store.accounts()
    assert account.registered_at == tokyo
    assert account.registered_at.utcoffset() == timedelta(0)
    assert account.registered_at == datetime(2024, 8, 5, 0, 0, 0, 1, tzinfo=UTC)
    assert str(account.poll_interval) == "5.5"


def test_time_when_naive_then_refused_before_reaching_the_database() -> None:
    with pytest.raises(TypeError, match="aware datetime"):
        naive = datetime(2024, 1, 1)  # noqa: DTZ001 (the point of the test)
        UTCMicros().process_bind_param(naive, None)  # type: ignore[arg-type]


def test_state_when_saved_then_decimals_and_peaks_round_trip(any_store: Store) -> None:
    state = GuardState(
        episodes=frozen_map(
            {"r|BTC|long": LadderEpisode(3, Decimal("1.230000001"), frozenset({1}))}
        ),
        equity_peaks=((T0, Decimal("20000.000000000000000001")),),
    )
    any_store.record_tick("acct", "tick-1", T0, state, {"equity": Decimal("1.10")}, [])
    loaded = any_store.load_state("acct")
    assert loaded.episodes["r|BTC|long"].start_quantity == Decimal("1.230000001")
    assert loaded.equity_peaks == ((T0, Decimal("20000.000000000000000001")),)
    summary = any_store.summaries()["acct"]
    assert summary["equity"] == "1.10"
    assert summary["last_tick_at"] == T0
