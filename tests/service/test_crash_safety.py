"""Crash safety: the service process is SIGKILLed at random points of a multi-step ladder and
restarted, 50 times; the paper venue's book (persisted on every change) must show no client id
received twice, and the audit log must hold every intent and every outcome."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import random
import signal
import time
from pathlib import Path

import pytest

from guard.service.executor import RESULT_EVENT
from guard.store import Store
from tests.service.helpers import POLICY

EPISODES = 10
KILLS_PER_EPISODE = 5
CONFIG = """
version: 1
service:
  database_url: sqlite:///{db}
  create_schema: true
  staleness: 10m
  breakers: {{max_orders_per_account: 500, max_notional_per_account: 100000000,
             max_orders_global: 500, max_notional_global: 100000000}}
  housekeeping: 1h
  stop_when_scenarios_end: true
accounts:
  - name: crash
    venue: paper
    scenario: crash
    speed: 3600
    start: 44m
    until: 150m
    latency: 30ms
    state_file: {state}
    policies: [{policy}]
    poll_interval: 0.03s
"""


def _serve(config: str) -> None:  # the child: exactly what `guard run` does
    from guard.service.logs import configure
    from guard.service.runner import Runner

    configure(stream=open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the child

    async def main() -> int:
        return await Runner(Path(config)).run()

    os._exit(asyncio.run(main()))


def _check(db: Path, state: Path) -> tuple[int, int]:
    book = json.loads(state.read_text())
    received: list[str] = book["received"]
    assert len(received) == len(set(received)), "a client order id reached the venue twice"
    fills = book["venue"]["accounts"]["crash"]["fills"]
    filled_ids = [f["client_order_id"] for f in fills]
    assert len(filled_ids) == len(set(filled_ids))
    store = Store(f"sqlite:///{db}")
    try:
        intents = {i.client_order_id: i for i in store.intents("crash")}
        assert set(received) <= set(intents), "an order reached the venue without its intent row"
        assert store.unresolved_intents() == []
        events = list(store.events())
        by_id: dict[str, set[str]] = {}
        for event in events:
            if event.client_order_id:
                by_id.setdefault(event.client_order_id, set()).add(event.kind)
        for client_id, intent in intents.items():
            assert "intent" in by_id[client_id], f"intent of {client_id} not audited"
            assert RESULT_EVENT[intent.status].value in by_id[client_id], (
                f"outcome {intent.status} of {client_id} not audited"
            )
        for client_id in filled_ids:
            assert intents[client_id].status.value == "filled"
        ok, _, why = store.verify_chain()
        assert ok, why
        starts = sum(1 for e in events if e.kind == "service_start")
        assert starts == KILLS_PER_EPISODE + 1
        # outcomes recorded by start-up reconciliation: a kill landed while an order was in flight
        recovered = sum(
            1
            for e in events
            if e.client_order_id and e.tick_id is None and e.kind.startswith("order_")
        )
    finally:
        store.dispose()
    return len(filled_ids), recovered


def _wait_started(db: Path, starts: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if db.exists():
            store = Store(f"sqlite:///{db}")
            try:
                if store.count_events("service_start") >= starts:
                    return
            except Exception:  # the schema is still being created
                pass
            finally:
                store.dispose()
        time.sleep(0.01)
    raise AssertionError("the service did not start within 20 s")


@pytest.mark.slow
def test_restart_when_killed_at_random_points_then_no_duplicate_order_and_no_lost_event(
    tmp_path: Path,
) -> None:
    context = multiprocessing.get_context("fork")
    rng = random.Random(20261121)
    kills = 0
    orders = 0
    recovered = 0
    for episode in range(EPISODES):
        folder = tmp_path / f"episode{episode}"
        folder.mkdir()
        db, state = folder / "guard.db", folder / "paper.json"
        config = folder / "guard.yaml"
        config.write_text(CONFIG.format(db=db, state=state, policy=POLICY))
        for _ in range(KILLS_PER_EPISODE):
            child = context.Process(target=_serve, args=(str(config),))
            child.start()
            _wait_started(db, starts=kills % KILLS_PER_EPISODE + 1)
            time.sleep(rng.uniform(0.0, 0.35))  # a random point of the running ladder
            if child.is_alive():
                assert child.pid is not None
                os.kill(child.pid, signal.SIGKILL)
            child.join(10)
            kills += 1
        final = context.Process(target=_serve, args=(str(config),))
        final.start()
        final.join(60)
        assert final.exitcode == 0, f"episode {episode}: the last run ended with {final.exitcode}"
        filled, resolved = _check(db, state)
        orders += filled
        recovered += resolved
    assert kills >= 50
    assert orders >= EPISODES * 3  # each episode really ran a multi-step ladder
    assert recovered >= 1, "no kill landed while an order was in flight: the test proves little"
    print(f"{kills} kills, {orders} fills, {recovered} outcomes recovered by reconciliation")
