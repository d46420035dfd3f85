"""The lock attack on the real service: while `guard run` protects two paper accounts through a
crash (with send latency), random global, account and market locks are set and cleared through
the CLI and the service is SIGKILLed and restarted at random points, also while locked. Read back
in audit order, no order was marked sent (the egress gate's decision, serialised with every lock
change) while a lock covering its account and market was active; SQLite and PostgreSQL.

`scripts/soak` runs the same attack with many more trials."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from guard.store import Store
from tests.conftest import _reset_postgres
from tests.operator.conftest import run
from tests.service.helpers import POLICY
from tests.service.test_crash_safety import _serve

ACCOUNTS = ("crash-a", "crash-b")
MARKETS = ("BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT")
ACCOUNT = """
  - name: {name}
    venue: paper
    scenario: crash
    speed: {speed}
    start: 44m
    until: 150m
    latency: 40ms
    state_file: {folder}/{name}.json
    policies: [{policy}]
    poll_interval: 0.05s
"""
CONFIG = """
version: 1
service:
  database_url: {url}
  create_schema: true
  staleness: 10m
  breakers: {{max_orders_per_account: 500, max_notional_per_account: 100000000,
             max_orders_global: 500, max_notional_global: 100000000}}
  housekeeping: 1h
  stop_when_scenarios_end: true
accounts:
{accounts}
"""


@dataclass(frozen=True)
class Attack:
    """What one attack did and what the audit log proves."""

    locks_set: int
    kills: int
    orders_sent: int
    held: int
    violations: tuple[str, ...]


def write_config(folder: Path, url: str, speed: int) -> Path:
    accounts = "".join(
        ACCOUNT.format(name=name, speed=speed, folder=folder, policy=POLICY) for name in ACCOUNTS
    )
    path = folder / "guard.yaml"
    path.write_text(CONFIG.format(url=url, accounts=accounts))
    return path


def _random_lock(rng: random.Random, url: str) -> bool:
    scope = rng.choice(["global", "account", "account", "market", "market", "market", "market"])
    args = ["lock", "--reason", f"attack {scope}", "--actor", "attacker", "--db", url]
    if scope != "global":
        args += ["--account", rng.choice(ACCOUNTS)]
    if scope == "market":
        args += ["--market", rng.choice(MARKETS)]
    return run(*args).code == 0


def _clear_one(rng: random.Random, store: Store, url: str) -> None:
    active = store.locks(_now())
    if active:
        run("unlock", str(rng.choice(active).id), "--actor", "attacker", "--db", url)


def _now():  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime.now(UTC)


def _started(store: Store, starts: int) -> bool:
    try:
        return store.count_events("service_start") >= starts
    except Exception:  # the schema is still being created
        return False


def attack(folder: Path, url: str, *, kills: int, seed: int, speed: int = 500) -> Attack:
    """Run the service under random locks and SIGKILLs; return what the audit log shows."""
    rng = random.Random(seed)
    config = write_config(folder, url, speed)
    context = multiprocessing.get_context("fork")
    locks_set = 0
    store = Store(url)
    try:
        for round_ in range(kills + 1):
            child = context.Process(target=_serve, args=(str(config),))
            child.start()
            deadline = time.monotonic() + 30
            while not _started(store, round_ + 1) and time.monotonic() < deadline:
                time.sleep(0.01)
            last = round_ == kills
            until = time.monotonic() + rng.uniform(0.3, 1.2)
            while child.is_alive() and time.monotonic() < until:
                if rng.random() < 0.45:
                    locks_set += _random_lock(rng, url)
                else:
                    _clear_one(rng, store, url)
                time.sleep(rng.uniform(0.005, 0.05))
            if last:  # the last run ends unlocked: held steps must still go out
                for lock in store.locks(_now()):
                    run("unlock", str(lock.id), "--actor", "attacker", "--db", url)
            if last:
                child.join(60)
                assert child.exitcode == 0, f"the last run ended with {child.exitcode}"
            else:
                if child.is_alive() and child.pid is not None:
                    os.kill(child.pid, signal.SIGKILL)  # possibly while locked
                child.join(10)
                if rng.random() < 0.5:
                    locks_set += _random_lock(rng, url)  # a lock set while the service is down
        return _read_back(store, locks_set, kills)
    finally:
        store.dispose()


def _covers(lock: tuple[str | None, str | None], account: str | None, symbol: str | None) -> bool:
    locked_account, locked_market = lock
    return (locked_account is None or locked_account == account) and (
        locked_market is None or locked_market == symbol
    )


def _read_back(store: Store, locks_set: int, kills: int) -> Attack:
    """Replay the audit log in append order: every order_sent against the locks active then."""
    active: dict[int, tuple[str | None, str | None]] = {}
    violations: list[str] = []
    sent = held = 0
    for event in store.events():
        if event.kind == "lock_set":
            active[int(event.payload["lock_id"])] = (event.account, event.symbol)
        elif event.kind in ("lock_cleared", "lock_expired"):
            active.pop(int(event.payload["lock_id"]), None)
        elif event.kind == "order_sent" and event.actor == "guard":
            sent += 1
            covering = [
                i for i, lock in active.items() if _covers(lock, event.account, event.symbol)
            ]
            if covering:
                violations.append(
                    f"audit #{event.id}: {event.client_order_id} sent on {event.account} "
                    f"{event.symbol} while lock(s) {covering} were active"
                )
        elif event.kind == "order_suppressed":
            held += 1
    ok, _, why = store.verify_chain()
    assert ok, why
    return Attack(locks_set, kills, sent, held, tuple(violations))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'guard.db'}"
    else:
        url: str = request.getfixturevalue("postgres_url")
        _reset_postgres(url)
        yield url


@pytest.mark.slow
def test_lock_attack_when_random_locks_and_kills_then_no_order_sent_under_a_covering_lock(
    tmp_path: Path, database: str
) -> None:
    kills = int(os.environ.get("GUARD_SOAK_ATTACK_KILLS", 4))  # scripts/soak raises it
    result = attack(tmp_path, database, kills=kills, seed=20261201 + kills)
    print(f"lock attack on {database.split(':')[0]}: {result}")
    assert result.violations == ()
    assert result.kills == kills and result.locks_set >= 5
    assert result.orders_sent >= 1, "no order went out: the attack proves nothing"
    assert result.held >= 1, "no order was ever held: the locks never met an order"
