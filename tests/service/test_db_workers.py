"""Several database workers: an account's calls (made inside `routed(account)`) all run on one
worker, in the order they were made; another account's call is not queued behind them."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from guard.service.config import load_config
from guard.service.db_thread import ROUTE, DatabaseThread, routed, worker_of
from guard.service.runner_base import database_workers
from guard.store.store import Store
from tests.service.helpers import ACCOUNT, ROOT, rig

ACCOUNTS = [f"acct-{i:05d}" for i in range(40)]


def test_worker_of_when_same_account_then_same_worker_and_no_account_on_the_first() -> None:
    assert worker_of(None, 4) == 0
    assert worker_of("acct-00001", 1) == 0
    assert {worker_of(a, 4) for a in ACCOUNTS} == {0, 1, 2, 3}  # spread over every worker
    assert [worker_of(a, 4) for a in ACCOUNTS] == [worker_of(a, 4) for a in ACCOUNTS]


async def test_run_when_routed_then_one_accounts_calls_keep_their_thread_and_order() -> None:
    thread = DatabaseThread(workers=4)
    seen: dict[str, list[tuple[int, str | None]]] = {a: [] for a in ACCOUNTS[:8]}

    def call(account: str, index: int) -> None:
        time.sleep(0.001)
        seen[account].append((index, threading.current_thread().name))

    async def ticks(account: str) -> None:
        with routed(account):
            for index in range(5):  # not awaited one by one: queued together, like a burst
                await asyncio.gather(*(thread.run(call, account, 5 * index + k) for k in range(5)))

    try:
        await asyncio.gather(*(ticks(a) for a in seen))
    finally:
        thread.close()
    for account, calls in seen.items():
        assert [i for i, _ in calls] == list(range(25)), account
        assert {name for _, name in calls} == {f"guard-db-{worker_of(account, 4)}_0"}, account


async def test_run_when_one_account_blocks_its_worker_then_an_account_on_another_still_runs() -> (
    None
):
    thread = DatabaseThread(workers=2)
    slow = next(a for a in ACCOUNTS if worker_of(a, 2) == 0)
    fast = next(a for a in ACCOUNTS if worker_of(a, 2) == 1)
    release = threading.Event()

    async def run_as(account: str, call: object) -> object:
        with routed(account):
            return await thread.run(call)  # type: ignore[arg-type]

    try:
        blocked = asyncio.ensure_future(run_as(slow, lambda: release.wait(5)))
        await asyncio.sleep(0.05)
        # e.g. one account's write transaction held open while another account's tick commits
        answer = await asyncio.wait_for(run_as(fast, lambda: "committed"), timeout=2)
        assert not blocked.done()
        release.set()
        assert await blocked is True
    finally:
        release.set()
        thread.close()
    assert answer == "committed"


def test_database_workers_when_sqlite_then_one_else_the_setting_journal_or_not() -> None:
    config = load_config(ROOT / "examples" / "guard.paper.yaml")
    pg = "postgresql+psycopg://postgres@127.0.0.1:5432/guard"
    service = config.service.model_copy(update={"database_workers": 6})
    assert database_workers(config.model_copy(update={"service": service}), pg) == 6
    assert database_workers(config.model_copy(update={"service": service}), "sqlite:///x.db") == 1
    journaled = service.model_copy(update={"journal": ROOT / "guard.journal.jsonl"})
    assert database_workers(config.model_copy(update={"service": journaled}), pg) == 6
    assert database_workers(config.model_copy(update={"service": journaled}), "sqlite:///x") == 1


async def test_tick_when_service_ticks_then_every_store_call_is_routed_to_its_account(
    sqlite_store: Store,
) -> None:
    routes: list[str | None] = []

    class Spy(DatabaseThread):
        async def run(self, call: Any, *args: Any, **kwargs: Any) -> Any:
            routes.append(ROUTE.get())
            return await super().run(call, *args, **kwargs)

    r = rig(sqlite_store)
    r.service.db = Spy(workers=3)
    try:
        await r.run_until_orders()  # reads, admissions, gate passes, results, writes
    finally:
        r.service.db.close()
    assert len(routes) > 10
    assert set(routes) == {ACCOUNT}


def test_store_when_pool_size_given_then_postgres_keeps_that_many_connections() -> None:
    # every worker keeps its connection between calls (QueuePool closes the ones above its size)
    store = Store("postgresql+psycopg://postgres@127.0.0.1:5432/unused", pool_size=10)
    try:
        assert store.engine.pool.size() == 10  # type: ignore[attr-defined]
    finally:
        store.dispose()
