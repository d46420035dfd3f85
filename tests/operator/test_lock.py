"""`guard lock|unlock|locks|pause|resume`: exit codes, messages, audit rows and history."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from guard.store import AccountInfo, Store
from tests.operator.conftest import run


def register(store: Store, *names: str) -> None:
    store.register_accounts(
        [AccountInfo(name, "paper", False, Decimal(5)) for name in names], datetime.now(UTC)
    )


def test_lock_when_account_given_then_set_listed_and_audited_with_actor(
    db: str, store: Store
) -> None:
    register(store, "main")
    ran = run(
        "lock",
        "--account",
        "main",
        "--reason",
        "manual check",
        "--actor",
        "alice",
        "--ttl",
        "30m",
        "--db",
        db,
    )
    assert ran.code == 0, ran.text
    assert "lock #1 on account main by alice" in ran.out and "for 30m" in ran.out
    (lock,) = store.locks(datetime.now(UTC))
    assert lock.expires_at is not None
    assert timedelta(minutes=29) < lock.expires_at - lock.created_at <= timedelta(minutes=30)
    (event,) = store.tail(1, kind="lock_set")
    assert (event.actor, event.account, event.payload["lock_id"]) == ("alice", "main", 1)
    listed = json.loads(run("locks", "--json", "--db", db).raw.stdout)
    assert [(x["id"], x["state"], x["scope"]) for x in listed] == [(1, "active", "account")]


def test_lock_when_market_and_until_given_then_scoped_to_market_until_that_time(
    db: str, store: Store
) -> None:
    until = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    ran = run(
        "lock",
        "--account",
        "main",
        "--market",
        "BTC/USDT:USDT",
        "--reason",
        "r",
        "--until",
        until.isoformat().replace("+00:00", "Z"),
        "--db",
        db,
    )
    assert ran.code == 0, ran.text
    assert "warning: no accounts registered yet" in ran.err
    (lock,) = store.locks(datetime.now(UTC))
    assert (lock.scope.value, lock.market, lock.expires_at) == ("market", "BTC/USDT:USDT", until)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--account", "main"], "a lock needs --reason"),
        (["--account", "main", "--reason", "  "], "a lock needs --reason"),
        (["--account", "mian", "--reason", "r"], "unknown account 'mian'; known accounts: main"),
        (["--account", "main", "--reason", "r", "--ttl", "5q"], "--ttl: a duration looks like"),
        (["--account", "main", "--reason", "r", "--ttl", "0m"], "--ttl must be positive"),
        (["--reason", "r", "--until", "tomorrow"], "--until must be an ISO-8601 time"),
        (["--reason", "r", "--until", "2020-01-01T00:00"], "needs a time zone"),
        (["--reason", "r", "--until", "2020-01-01T00:00Z"], "is not in the future"),
        (
            ["--reason", "r", "--ttl", "1h", "--until", "2999-01-01T00:00Z"],
            "either --ttl or --until",
        ),
        (["--market", "M", "--reason", "r"], "--market needs --account"),
        (["--reason", "r", "--actor", " "], "--actor must not be empty"),
    ],
)
def test_lock_when_input_bad_then_exit_2_with_clear_message(
    db: str, store: Store, args: list[str], message: str
) -> None:
    register(store, "main")
    ran = run("lock", *args, "--db", db)
    assert ran.code == 2
    assert message in ran.err
    assert store.locks(datetime.now(UTC), include_inactive=True) == []


def test_unlock_when_id_given_then_cleared_with_actor_and_history_kept(
    db: str, store: Store
) -> None:
    assert (
        run("lock", "--account", "main", "--reason", "r", "--actor", "alice", "--db", db).code == 0
    )
    ran = run("unlock", "1", "--actor", "bob", "--reason", "resolved", "--db", db)
    assert ran.code == 0 and "cleared lock #1" in ran.out
    assert "no active locks" in run("locks", "--db", db).out
    history = json.loads(run("locks", "--all", "--json", "--db", db).raw.stdout)
    assert [(h["state"], h["actor"], h["cleared_by"], h["clear_reason"]) for h in history] == [
        ("cleared", "alice", "bob", "resolved")
    ]
    (event,) = store.tail(1, kind="lock_cleared")
    assert event.actor == "bob"


def test_unlock_when_id_unknown_then_exit_2_and_when_already_cleared_then_exit_1(
    db: str,
) -> None:
    unknown = run("unlock", "7", "--db", db)
    assert unknown.code == 2 and "no lock with id 7" in unknown.err
    run("lock", "--reason", "r", "--db", db)
    assert run("unlock", "1", "--db", db).code == 0
    again = run("unlock", "1", "--db", db)
    assert again.code == 1 and "lock #1 is already cleared" in again.err


def test_unlock_when_scope_given_then_only_that_scope_cleared(db: str, store: Store) -> None:
    run("lock", "--account", "main", "--reason", "a", "--db", db)
    run("lock", "--account", "main", "--market", "BTC/USDT:USDT", "--reason", "m", "--db", db)
    ran = run("unlock", "--account", "main", "--market", "BTC", "--db", db)
    assert ran.code == 0 and "cleared lock #2" in ran.out
    assert [lock.id for lock in store.locks(datetime.now(UTC))] == [1]
    none = run("unlock", "--account", "main", "--market", "BTC", "--db", db)
    assert none.code == 1 and "no active lock on BTC on account main" in none.err
    both = run("unlock", "1", "--account", "main", "--db", db)
    assert both.code == 2 and "not both" in both.err


def test_global_lock_when_set_then_status_paused_until_unlocked(db: str, store: Store) -> None:
    register(store, "main")
    ran = run("lock", "--reason", "venue maintenance", "--db", db)
    assert ran.code == 0 and "lock #1 on all accounts" in ran.out
    assert [row.mode for row in store.status(datetime.now(UTC))] == ["paused"]
    assert run("unlock", "1", "--db", db).code == 0
    assert [row.mode for row in store.status(datetime.now(UTC))] == ["active"]


def test_locks_when_table_requested_then_lock_rows_shown(db: str) -> None:
    run("lock", "--account", "main", "--reason", "maint", "--ttl", "1h", "--db", db)
    ran = run("locks", "--db", db)
    assert ran.code == 0 and "main" in ran.out and "maint" in ran.out and "active" in ran.out
