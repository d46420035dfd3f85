"""Override locks: scopes, history, expiry audited once, and the admit transaction honouring them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from guard.core.domain import MarginMode, OrderPlan, OrderSide, OrderStatus, Side
from guard.store import InvalidRequest, LockNotFound, LockScope, Store

T0 = datetime(2024, 8, 5, tzinfo=UTC)


def plan(client_id: str, symbol: str = "BTC/USDT:USDT", account: str = "acct") -> OrderPlan:
    return OrderPlan(
        account=account,
        symbol=symbol,
        side=OrderSide.SELL,
        quantity=Decimal("0.5"),
        position_side=Side.LONG,
        margin_mode=MarginMode.CROSS,
        client_order_id=client_id,
        rule_ids=("liq-buffer",),
        reason="close to liquidation",
    )


def admit(store: Store, *plans: OrderPlan, at: datetime = T0, override: bool = False):  # type: ignore[no-untyped-def]
    return store.admit(
        plans[0].account,
        plans,
        at,
        tick_id="t1",
        fingerprint="fp",
        actor="guard",
        dry_run=False,
        state=None,
        override_locks=override,
    )


def test_admit_when_account_locked_then_plan_suppressed_and_audited_naming_the_lock(
    any_store: Store,
) -> None:
    lock = any_store.set_lock(reason="investigating", actor="alice", at=T0, account="acct")
    admission = admit(any_store, plan("c1"), at=T0 + timedelta(seconds=1))
    assert admission.admitted == ()
    ((held, why),) = admission.suppressed
    assert held.client_order_id == "c1"
    assert f"lock #{lock.id}" in why and "alice" in why and "investigating" in why
    (event,) = any_store.tail(1, kind="order_suppressed")
    assert f"lock #{lock.id}" in event.message and event.client_order_id == "c1"
    (intent,) = any_store.intents("acct")
    assert intent.status is OrderStatus.SUPPRESSED


def test_admit_when_other_market_locked_then_plan_admitted(any_store: Store) -> None:
    any_store.set_lock(reason="r", actor="a", at=T0, account="acct", market="ETH/USDT:USDT")
    assert len(admit(any_store, plan("c1")).admitted) == 1
    assert len(admit(any_store, plan("c2", "ETH/USDT:USDT")).suppressed) == 1


def test_admit_when_other_account_locked_then_plan_admitted(any_store: Store) -> None:
    any_store.set_lock(reason="r", actor="a", at=T0, account="other")
    assert len(admit(any_store, plan("c1")).admitted) == 1


def test_admit_when_paused_globally_then_every_account_is_held(any_store: Store) -> None:
    lock = any_store.set_lock(reason="maintenance", actor="ops", at=T0)
    assert lock.scope is LockScope.GLOBAL
    assert len(admit(any_store, plan("c1")).suppressed) == 1
    assert len(admit(any_store, plan("c2", account="b")).suppressed) == 1


def test_admit_when_overriding_locks_then_plan_admitted_despite_lock(any_store: Store) -> None:
    any_store.set_lock(reason="r", actor="a", at=T0, account="acct")
    assert len(admit(any_store, plan("c1"), override=True).admitted) == 1


def test_admit_when_lock_expired_then_plan_admitted(any_store: Store) -> None:
    any_store.set_lock(
        reason="r", actor="a", at=T0, account="acct", expires_at=T0 + timedelta(minutes=1)
    )
    assert len(admit(any_store, plan("c1"), at=T0 + timedelta(seconds=59)).suppressed) == 1
    assert len(admit(any_store, plan("c2"), at=T0 + timedelta(minutes=1)).admitted) == 1


def test_clear_lock_when_active_then_history_keeps_who_and_when(any_store: Store) -> None:
    lock = any_store.set_lock(reason="r", actor="alice", at=T0, account="acct")
    cleared = any_store.clear_lock(lock.id, actor="bob", at=T0 + timedelta(minutes=5), reason="ok")
    assert (cleared.cleared_by, cleared.cleared_at, cleared.clear_reason) == (
        "bob",
        T0 + timedelta(minutes=5),
        "ok",
    )
    assert any_store.locks(T0 + timedelta(minutes=6)) == []
    (old,) = any_store.locks(T0 + timedelta(minutes=6), include_inactive=True)
    assert old.state(T0 + timedelta(minutes=6)) == "cleared" and old.actor == "alice"
    kinds = [e.kind for e in any_store.tail(10)]
    assert kinds == ["lock_set", "lock_cleared"]
    assert len(admit(any_store, plan("c1"), at=T0 + timedelta(minutes=6)).admitted) == 1


def test_clear_lock_when_unknown_or_already_cleared_then_clear_error(any_store: Store) -> None:
    with pytest.raises(LockNotFound, match="no lock with id 42"):
        any_store.clear_lock(42, actor="bob", at=T0)
    lock = any_store.set_lock(reason="r", actor="alice", at=T0)
    any_store.clear_lock(lock.id, actor="bob", at=T0)
    with pytest.raises(InvalidRequest, match="already cleared by bob"):
        any_store.clear_lock(lock.id, actor="bob", at=T0)


def test_clear_locks_when_scoped_then_only_that_exact_scope_is_cleared(any_store: Store) -> None:
    account = any_store.set_lock(reason="r", actor="a", at=T0, account="acct")
    market = any_store.set_lock(reason="r", actor="a", at=T0, account="acct", market="M")
    paused = any_store.set_lock(reason="r", actor="a", at=T0)
    cleared = any_store.clear_locks(actor="b", at=T0, account="acct", market="M")
    assert [lock.id for lock in cleared] == [market.id]
    assert [lock.id for lock in any_store.clear_locks(actor="b", at=T0)] == [paused.id]
    assert [lock.id for lock in any_store.locks(T0)] == [account.id]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"reason": "  "}, "needs a reason"),
        ({"reason": "r", "market": "M"}, "needs its account"),
        ({"reason": "r", "expires_at": T0}, "is not after now"),
    ],
)
def test_set_lock_when_input_bad_then_refused(
    any_store: Store, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidRequest, match=message):
        any_store.set_lock(actor="a", at=T0, **kwargs)  # type: ignore[arg-type]


def test_expire_locks_when_called_twice_then_lock_expired_audited_once(any_store: Store) -> None:
    ends = T0 + timedelta(minutes=30)
    lock = any_store.set_lock(reason="r", actor="a", at=T0, account="acct", expires_at=ends)
    keep = any_store.set_lock(reason="r", actor="a", at=T0, account="acct")
    assert any_store.expire_locks(T0 + timedelta(minutes=29)) == []
    (expired,) = any_store.expire_locks(T0 + timedelta(minutes=31))
    assert expired.id == lock.id and expired.cleared_at == ends
    assert expired.state(T0 + timedelta(minutes=31)) == "expired"
    assert any_store.expire_locks(T0 + timedelta(minutes=32)) == []
    assert any_store.count_events(kind="lock_expired") == 1
    assert [item.id for item in any_store.locks(T0 + timedelta(hours=1))] == [keep.id]
    with pytest.raises(InvalidRequest, match="already expired"):
        any_store.clear_lock(lock.id, actor="b", at=T0 + timedelta(hours=1))
