"""The tick's one read: what it returns matches the Store's separate reads (covering locks only,
active only; the account's pending requests; its unresolved live intents with their reductions in
flight), and the tick's one write round-trips the state."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from guard.core.audit import AuditEvent, EventKind
from guard.core.domain import GuardState, OrderResult, OrderStatus, frozen_map
from guard.store import Store
from tests.store.test_locks import T0, admit, plan


def test_read_tick_when_nothing_stored_then_empty_state_and_nothing_else(any_store: Store) -> None:
    inputs = any_store.read_tick("acct", T0)
    assert inputs.state == GuardState()
    assert (inputs.locks, inputs.requests, inputs.intents) == ((), (), ())


def test_read_tick_when_locks_of_many_scopes_then_only_active_covering_ones(
    any_store: Store,
) -> None:
    paused = any_store.set_lock(reason="pause", actor="op", at=T0)
    mine = any_store.set_lock(reason="mine", actor="op", at=T0, account="acct")
    market = any_store.set_lock(reason="m", actor="op", at=T0, account="acct", market="ETH")
    any_store.set_lock(reason="other", actor="op", at=T0, account="other")
    any_store.set_lock(
        reason="gone", actor="op", at=T0, account="acct", expires_at=T0 + timedelta(minutes=1)
    )
    cleared = any_store.set_lock(reason="cleared", actor="op", at=T0, account="acct")
    any_store.clear_lock(cleared.id, actor="op", at=T0)
    later = T0 + timedelta(minutes=2)
    inputs = any_store.read_tick("acct", later)
    assert [lock.id for lock in inputs.locks] == [paused.id, mine.id, market.id]
    assert [lock.id for lock in inputs.locks] == [
        lock.id for lock in any_store.locks(later) if lock.covers("acct")
    ]


def test_read_tick_when_requests_and_intents_then_the_accounts_own_with_flights(
    any_store: Store,
) -> None:
    any_store.request_flatten(account="acct", fraction=Decimal(1), reason="r", actor="op", at=T0)
    any_store.request_flatten(account="other", fraction=Decimal(1), reason="r", actor="op", at=T0)
    admit(any_store, plan("a-1"), plan("a-2", symbol="ETH/USDT:USDT"))
    admit(any_store, plan("o-1", account="other"))
    any_store.update_intent(
        OrderResult("a-2", OrderStatus.FILLED, Decimal("0.5"), Decimal(3000)), T0
    )
    inputs = any_store.read_tick("acct", T0)
    assert [r.id for r in inputs.requests] == [r.id for r in any_store.pending_requests("acct")]
    assert [i.client_order_id for i in inputs.intents] == ["a-1"]
    assert inputs.state == any_store.load_state("acct")
    assert dict(inputs.state.in_flight) == {plan("a-1").key: Decimal("0.5")}


def test_record_tick_when_written_then_the_next_read_returns_that_state(any_store: Store) -> None:
    state = GuardState(equity_peaks=((T0, Decimal("1000.5")),), counters=frozen_map({"r": 2}))
    event = AuditEvent(EventKind.EVALUATION, "tick", account="acct")
    any_store.record_tick("acct", "acct@1", T0, state, {"equity": Decimal(1)}, [event])
    any_store.record_tick("acct", "acct@2", T0, state, {"equity": Decimal(2)}, [event])
    assert any_store.read_tick("acct", T0).state == state
    assert any_store.count_events(kind="evaluation") == 2
    assert any_store.verify_chain()[0]
