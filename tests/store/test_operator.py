"""Accounts registry, operator flatten requests and the per-account status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from guard.core.audit import AuditEvent, EventKind
from guard.core.domain import GuardState, MarginMode, OrderPlan, OrderSide, Side
from guard.store import (
    AccountInfo,
    InvalidRequest,
    RequestStatus,
    Store,
    UnknownAccount,
)

T0 = datetime(2024, 8, 5, tzinfo=UTC)


def test_check_account_when_none_registered_then_any_name_accepted_with_warning(
    any_store: Store,
) -> None:
    warning = any_store.check_account("whoever")
    assert warning is not None and "no accounts registered yet" in warning


def test_check_account_when_registered_then_unknown_name_refused_naming_known(
    any_store: Store,
) -> None:
    any_store.register_accounts(
        [
            AccountInfo("main", "binanceusdm", False, Decimal(5)),
            AccountInfo("alt", "okx", True, Decimal("2.5")),
        ],
        T0,
    )
    assert any_store.check_account("main") is None
    with pytest.raises(UnknownAccount, match="unknown account 'mian'; known accounts: alt, main"):
        any_store.check_account("mian")


def test_register_accounts_when_service_restarts_then_row_refreshed(any_store: Store) -> None:
    any_store.register_accounts([AccountInfo("main", "okx", False, Decimal(5))], T0)
    later = T0 + timedelta(hours=1)
    any_store.register_accounts([AccountInfo("main", "okx", True, Decimal(10))], later)
    (account,) = any_store.accounts()
    assert (account.dry_run, account.poll_interval, account.registered_at) == (
        True,
        Decimal(10),
        later,
    )
    any_store.record_tick("main", "t", later + timedelta(seconds=5), GuardState(), {}, [])
    assert any_store.accounts()[0].last_seen_at == later + timedelta(seconds=5)


def test_request_flatten_when_completed_then_once_and_audited_with_actor(any_store: Store) -> None:
    request_id = any_store.request_flatten(
        account="main",
        market="BTC/USDT:USDT",
        fraction=Decimal("0.5"),
        reason="r",
        actor="al",
        at=T0,
    )
    (pending,) = any_store.pending_requests("main")
    assert (pending.id, pending.fraction, pending.actor, pending.status) == (
        request_id,
        Decimal("0.5"),
        "al",
        RequestStatus.PENDING,
    )
    assert any_store.pending_requests("other") == []
    done = any_store.complete_request(request_id, "sold 0.5 BTC", T0 + timedelta(seconds=3))
    assert done.status is RequestStatus.DONE and done.outcome == "sold 0.5 BTC"
    assert any_store.pending_requests() == []
    with pytest.raises(InvalidRequest, match="already done"):
        any_store.complete_request(request_id, "again", T0)
    kinds = [(e.kind, e.actor) for e in any_store.tail(5)]
    assert kinds == [("flatten_requested", "al"), ("flatten_completed", "guard")]


@pytest.mark.parametrize(
    ("fraction", "reason", "message"),
    [(Decimal(0), "r", "fraction"), (Decimal("1.5"), "r", "fraction"), (Decimal(1), " ", "reason")],
)
def test_request_flatten_when_input_bad_then_refused(
    any_store: Store, fraction: Decimal, reason: str, message: str
) -> None:
    with pytest.raises(InvalidRequest, match=message):
        any_store.request_flatten(account="a", fraction=fraction, reason=reason, actor="x", at=T0)


def test_status_when_ticked_locked_and_pending_then_every_column_reported(
    any_store: Store,
) -> None:
    any_store.register_accounts(
        [
            AccountInfo("main", "binanceusdm", False, Decimal(5)),
            AccountInfo("alt", "okx", True, Decimal(5)),
            AccountInfo("idle", "okx", False, Decimal(5)),
        ],
        T0,
    )
    summary = {
        "equity": Decimal("10500.25"),
        "margin_ratio": Decimal("0.42"),
        "worst_liquidation_distance": Decimal("0.081"),
        "open_breaches": 2,
    }
    any_store.record_tick("main", "t1", T0, GuardState(), summary, [])
    lock = any_store.set_lock(reason="r", actor="a", at=T0, account="main", market="BTC")
    any_store.admit(
        "main",
        [OrderPlan("main", "ETH", OrderSide.SELL, Decimal(1), Side.LONG, MarginMode.CROSS, "c1")],
        T0,
        tick_id=None,
        fingerprint=None,
        actor="guard",
        dry_run=False,
        state=None,
    )
    any_store.request_flatten(account="main", fraction=Decimal(1), reason="r", actor="a", at=T0)

    rows = {row.name: row for row in any_store.status(T0 + timedelta(seconds=7))}

    main = rows["main"]
    assert (main.venue, main.mode, main.tick_age) == ("binanceusdm", "locked", timedelta(seconds=7))
    assert (main.equity, main.margin_ratio, main.worst_liquidation_distance) == (
        Decimal("10500.25"),
        Decimal("0.42"),
        Decimal("0.081"),
    )
    assert (main.open_breaches, main.pending_intents, main.pending_requests) == (2, 1, 1)
    assert [item.id for item in main.locks] == [lock.id]
    assert (rows["alt"].mode, rows["alt"].tick_age, rows["alt"].equity) == ("dry-run", None, None)
    assert rows["idle"].mode == "active"

    any_store.set_lock(reason="maintenance", actor="ops", at=T0)
    assert {row.mode for row in any_store.status(T0)} == {"paused"}


def test_status_when_account_only_in_audit_then_absent(any_store: Store) -> None:
    any_store.audit([AuditEvent(EventKind.ALERT, "x", account="ghost")], T0)
    assert any_store.status(T0) == []
