"""Operator input is validated: a market written as a trader writes it resolves to exactly one
market the service has seen on that account, or the command refuses with the list it knows."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from guard.store import Store
from guard.store.records import AccountInfo
from tests.operator.conftest import run

SOL, ETH = "SOL/USDT:USDT", "ETH/USDT:USDT"


def _seen(store: Store) -> None:
    store.register_accounts([AccountInfo("main", "binance", False, Decimal(5))], datetime.now(UTC))
    store.record_markets("main", [SOL, ETH])


def test_lock_when_market_written_short_then_resolved_to_account_market(
    db: str, store: Store
) -> None:
    _seen(store)
    ran = run("lock", "--account", "main", "--market", "sol", "--reason", "r", "--db", db)
    assert ran.code == 0, ran.text
    (lock,) = store.locks(datetime.now(UTC))
    assert lock.market == SOL and lock.covers("main", SOL)


def test_lock_when_market_unknown_then_refused_with_known_markets_and_nothing_set(
    db: str, store: Store
) -> None:
    _seen(store)
    ran = run("lock", "--account", "main", "--market", "DOGE", "--reason", "r", "--db", db)
    assert ran.code == 2
    assert f"matches no known market (known: {ETH}, {SOL})" in ran.err
    assert store.locks(datetime.now(UTC)) == []


def test_lock_when_no_market_seen_yet_and_short_name_then_refused(db: str, store: Store) -> None:
    store.register_accounts([AccountInfo("main", "binance", False, Decimal(5))], datetime.now(UTC))
    ran = run("lock", "--account", "main", "--market", "SOL", "--reason", "r", "--db", db)
    assert ran.code == 2 and "no market of account 'main' seen yet" in ran.err
    assert store.locks(datetime.now(UTC)) == []


def test_flatten_when_market_written_as_exchange_symbol_then_queued_for_unified_market(
    db: str, store: Store
) -> None:
    _seen(store)
    ran = run(
        "flatten",
        "--account",
        "main",
        "--market",
        "ETHUSDT",
        "--reason",
        "r",
        "--wait",
        "0",
        "--yes",
        "--db",
        db,
    )
    assert ran.code == 0, ran.text
    (request,) = store.pending_requests("main")
    assert request.market == ETH


def test_flatten_when_market_unknown_then_refused_and_nothing_queued(db: str, store: Store) -> None:
    _seen(store)
    ran = run(
        "flatten",
        "--account",
        "main",
        "--market",
        "BTC",
        "--reason",
        "r",
        "--wait",
        "0",
        "--yes",
        "--db",
        db,
    )
    assert ran.code == 2 and "matches no known market" in ran.err
    assert store.pending_requests() == []
