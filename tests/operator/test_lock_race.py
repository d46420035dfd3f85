"""A lock taken by the CLI while the service ticks stops every action that commits after it."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest

from guard.core.domain import OrderStatus
from guard.gateway.paper.scenarios import crash
from guard.service import AccountRuntime, GuardService
from guard.service.files import load_policies
from guard.store import Store, StoredLock
from tests.operator.conftest import run

POLICY = Path(__file__).resolve().parents[2] / "policies" / "default.yaml"
ACCOUNT = "acct"


class StalePrecheckStore(Store):
    """The service's early look at the locks always misses them, as if every lock committed
    just after that read: only the check inside the intent transaction can hold actions back."""

    def locks(self, at: datetime, *, include_inactive: bool = False) -> list[StoredLock]:
        return []


@pytest.mark.parametrize("stale_precheck", [False, True], ids=["service", "transaction-only"])
def test_lock_when_set_by_cli_while_service_ticks_then_no_later_action_admitted(
    db: str, store: Store, stale_precheck: bool
) -> None:
    scenario = crash()
    venue = scenario.venue((ACCOUNT,))
    service_store = StalePrecheckStore(db) if stale_precheck else store
    service = GuardService(
        store=service_store,
        accounts={ACCOUNT: AccountRuntime(ACCOUNT, venue.rules, venue, load_policies([POLICY]))},
        clock=lambda: venue.now,
    )
    errors: list[str] = []
    ticks_after_lock = 0
    locked = threading.Event()

    async def ticking() -> None:
        nonlocal ticks_after_lock
        while venue.now < scenario.end:
            venue.advance_to(min(venue.now + scenario.tick, scenario.end))
            report = await service.tick(ACCOUNT)
            if report.error is not None:
                errors.append(report.error)
            if locked.is_set():
                ticks_after_lock += 1
            await asyncio.sleep(0.002)

    worker = threading.Thread(target=lambda: asyncio.run(ticking()))
    worker.start()
    deadline = time.monotonic() + 60
    while store.count_events(kind="intent", account=ACCOUNT) == 0:
        assert worker.is_alive() and time.monotonic() < deadline, "the guard never acted"
        time.sleep(0.01)
    ran = run("lock", "--account", ACCOUNT, "--reason", "operator takes over", "--db", db)
    locked.set()
    assert worker.is_alive(), "the scenario ended before the lock: the test proves nothing"
    worker.join(timeout=120)
    if service_store is not store:
        service_store.dispose()

    assert ran.code == 0, ran.text
    assert errors == []
    assert ticks_after_lock > 10
    (lock_event,) = store.tail(1, kind="lock_set")
    lock_id = lock_event.payload["lock_id"]
    after = [e for e in store.events(after_id=lock_event.id) if e.account == ACCOUNT]
    acted = [e for e in after if e.kind in ("intent", "order_sent", "order_would_place")]
    held = [e for e in after if e.kind == "order_suppressed"]
    sent_before = {
        e.client_order_id
        for e in store.events()
        if e.id < lock_event.id and e.kind == "intent" and e.account == ACCOUNT
    }
    # orders admitted before the lock may still be reported sent right after it; none new
    assert {e.client_order_id for e in acted} <= sent_before
    assert not [e for e in acted if e.kind == "intent"]
    assert held, "the guard wanted to act after the lock but nothing was held back"
    assert all(f"lock #{lock_id}" in e.message for e in held)
    intents = store.intents(ACCOUNT)
    admitted = {i.client_order_id for i in intents if i.status is not OrderStatus.SUPPRESSED}
    assert admitted <= sent_before
    assert set(venue.accounts[ACCOUNT].orders) == admitted
