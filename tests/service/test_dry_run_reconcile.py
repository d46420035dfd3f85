"""Invariant 4 on the reconciliation path: an account switched to dry-run never sends the live
intent it left unresolved, even through an unwrapped gateway; it records what it would place."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from guard.core.domain import MarginMode, OrderPlan, OrderSide, OrderStatus, Side
from guard.core.policy.schema import PolicyFile, PolicySet
from guard.core.venues.paper import RULES
from guard.gateway.paper.path import PricePath
from guard.gateway.paper.venue import PaperVenue
from guard.service import AccountRuntime, GuardService
from guard.store import Store
from tests.builders import T0, D, spec

BTC = "BTC/USDT:USDT"
POLICY = PolicySet.of(
    [
        (
            "inline",
            PolicyFile.model_validate(
                {"version": 1, "rules": [{"id": "stale", "kind": "stale_data", "max_age": "2m"}]}
            ),
        )
    ]
)


async def test_reconcile_when_account_now_dry_run_then_pending_live_intent_not_sent(
    tmp_path: Path,
) -> None:
    path = PricePath({BTC: tuple((T0 + timedelta(minutes=m), D(60000)) for m in range(10))})
    venue = PaperVenue({BTC: spec(BTC)}, path)
    venue.open_account("a", D(10000))
    venue.seed_position("a", BTC, Side.LONG, D(1), D(60000), D(10))
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    store.create_schema()
    plan = OrderPlan("a", BTC, OrderSide.SELL, D("0.5"), Side.LONG, MarginMode.CROSS, "g-live-1")
    live = store.admit(
        "a",
        [plan],
        venue.now,
        tick_id=None,
        fingerprint=None,
        actor="guard",
        dry_run=False,
        state=None,
    )
    assert live.admitted == (plan,)  # a live intent, written and never handed to the venue

    service = GuardService(
        store, {"a": AccountRuntime("a", RULES, venue, POLICY, dry_run=True)}, lambda: venue.now
    )
    await service.reconcile()
    await service.tick("a")

    assert venue.calls["create_order"] == 0
    assert venue.accounts["a"].fills == []
    assert [i.status for i in store.intents("a")] == [OrderStatus.WOULD_PLACE]
    assert store.count_events("order_would_place", "a") == 1
