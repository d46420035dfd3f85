"""Lease logic on real PostgreSQL: acquire, renew, fair spread, expiry and takeover, fencing of
a stale holder, local lapse, clean leave; and the fair-share arithmetic with plain values."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guard.core.audit import EventKind
from guard.core.domain import GuardState, MarginMode, OrderPlan, OrderSide, Side
from guard.core.yaml_model import ConfigError
from guard.service.runner import Runner
from guard.store import Store
from guard.store.intent_records import Admission
from guard.store.lease_keeper import LeaseConflict, LeaseManager, LeaseSettings, fair_share
from guard.store.lease_queries import Fence, LeaseLost, leases
from tests.service.helpers import POLICY

ACCOUNTS = [f"acct{i:02d}" for i in range(10)]
TTL = timedelta(seconds=0.6)
RENEW = timedelta(seconds=0.15)


@dataclass
class FakeMonotonic:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


def _now() -> datetime:
    return datetime.now(UTC)


def _manager(store: Store, replica: str, clock: FakeMonotonic | None = None) -> LeaseManager:
    settings = LeaseSettings(replica, TTL, RENEW, slack=0)
    if clock is None:
        return LeaseManager(store, settings)
    return LeaseManager(store, settings, monotonic=clock)


def _holders(store: Store) -> dict[str, str | None]:
    return {lease.account: lease.holder for lease in leases(store)}


def _plan(account: str, client_id: str) -> OrderPlan:
    return OrderPlan(
        account=account,
        symbol="BTC/USDT:USDT",
        side=OrderSide.SELL,
        quantity=Decimal("0.1"),
        position_side=Side.LONG,
        margin_mode=MarginMode.CROSS,
        client_order_id=client_id,
        reason="test",
    )


def _admit(store: Store, actor: str, fence: Fence) -> Admission:
    return store.admit(
        "acct00",
        [_plan("acct00", "c1")],
        _now(),
        tick_id="t",
        fingerprint=None,
        actor=actor,
        dry_run=False,
        state=GuardState(),
        fence=fence,
    )


# ----- fair share: plain values -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("accounts", "alive", "slack", "share"),
    [
        (300, 3, 1, 101),
        (300, 2, 1, 151),
        (300, 1, 0, 300),
        (10, 3, 0, 4),
        (0, 2, 1, 1),
        (7, 0, 0, 7),
    ],
)
def test_fair_share_when_plain_values_then_ceiling_plus_slack(
    accounts: int, alive: int, slack: int, share: int
) -> None:
    assert fair_share(accounts, alive, slack) == share


def test_fair_share_when_negative_input_then_clear_error() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        fair_share(-1, 2, 0)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 64), st.integers(0, 5))
def test_fair_share_when_every_replica_takes_its_share_then_all_accounts_fit(
    accounts: int, alive: int, slack: int
) -> None:
    share = fair_share(accounts, alive, slack)
    assert share * alive >= accounts  # nobody is left unguarded
    assert share - slack == math.ceil(accounts / alive)  # and nobody hoards


def test_lease_settings_when_renew_over_half_ttl_then_refused() -> None:
    with pytest.raises(ValueError, match="at most half"):
        LeaseSettings("r", timedelta(seconds=1), timedelta(seconds=0.6))


# ----- PostgreSQL -------------------------------------------------------------------------------


@pytest.mark.postgres
def test_beat_when_alone_then_acquires_every_lease_with_token_one_and_audits(
    pg_store: Store,
) -> None:
    a = _manager(pg_store, "a")
    a.join(ACCOUNTS, _now())
    first = a.beat(ACCOUNTS, set(), _now(), acquire=False)
    assert first.held == {} and first.alive == 1
    beat = a.beat(ACCOUNTS, set(), _now())
    assert sorted(beat.acquired) == ACCOUNTS and beat.share == len(ACCOUNTS)
    assert {f.token for f in beat.held.values()} == {1}
    assert set(_holders(pg_store).values()) == {"a"}
    assert pg_store.count_events(EventKind.LEASE_ACQUIRED.value) == len(ACCOUNTS)


@pytest.mark.postgres
def test_beat_when_held_then_renewed_with_same_token_and_later_expiry(pg_store: Store) -> None:
    a = _manager(pg_store, "a")
    a.join(ACCOUNTS, _now())
    a.beat(ACCOUNTS, set(), _now())
    before = {lease.account: lease for lease in leases(pg_store)}
    time.sleep(0.05)
    beat = a.beat(ACCOUNTS, set(), _now())
    after = {lease.account: lease for lease in leases(pg_store)}
    assert beat.acquired == () and beat.lost == ()
    for name in ACCOUNTS:
        assert after[name].token == before[name].token == 1
        assert after[name].expires_at > before[name].expires_at
    assert pg_store.count_events(EventKind.LEASE_ACQUIRED.value) == len(ACCOUNTS)


@pytest.mark.postgres
def test_beat_when_second_replica_joins_then_excess_released_and_spread_fairly(
    pg_store: Store,
) -> None:
    a, b = _manager(pg_store, "a"), _manager(pg_store, "b")
    a.join(ACCOUNTS, _now())
    a.beat(ACCOUNTS, set(), _now())
    b.join(ACCOUNTS, _now())
    busy = {"acct09"}  # a running tick is never handed away
    shrunk = a.beat(ACCOUNTS, busy, _now())
    assert shrunk.alive == 2 and shrunk.share == 5
    assert len(shrunk.held) == 5 and "acct09" in shrunk.held
    assert len(shrunk.released) == 5
    grown = b.beat(ACCOUNTS, set(), _now())
    assert sorted(grown.acquired) == sorted(shrunk.released)
    holders = _holders(pg_store)
    assert sorted(n for n, h in holders.items() if h == "a") == sorted(shrunk.held)
    assert sorted(n for n, h in holders.items() if h == "b") == sorted(grown.held)
    assert pg_store.count_events(EventKind.LEASE_RELEASED.value) == 5


@pytest.mark.postgres
def test_beat_when_holder_stops_renewing_then_taken_over_with_next_token_and_old_one_loses(
    pg_store: Store,
) -> None:
    a, b = _manager(pg_store, "a"), _manager(pg_store, "b")
    a.join(ACCOUNTS, _now())
    a.beat(ACCOUNTS, set(), _now())
    b.join(ACCOUNTS, _now())
    early = b.beat(ACCOUNTS, set(), _now())
    assert early.acquired == ()  # a is alive and holds its leases: nothing is free
    time.sleep(TTL.total_seconds() + 0.1)  # a hangs: no renewal for longer than the ttl
    took = b.beat(ACCOUNTS, set(), _now())
    assert took.alive == 1 and sorted(took.acquired) == ACCOUNTS
    assert {f.token for f in took.held.values()} == {2}
    acquired = pg_store.tail(50, kind=EventKind.LEASE_ACQUIRED.value)
    assert sum("taken over from a" in e.message for e in acquired) == len(ACCOUNTS)
    woke = a.beat(ACCOUNTS, set(), _now())
    assert sorted(woke.lost) == ACCOUNTS and woke.held == {}
    assert pg_store.count_events(EventKind.LEASE_LOST.value) == len(ACCOUNTS)
    ok, _, why = pg_store.verify_chain()
    assert ok, why


@pytest.mark.postgres
def test_admit_when_fence_is_stale_then_lease_lost_and_nothing_written(pg_store: Store) -> None:
    a, b = _manager(pg_store, "a"), _manager(pg_store, "b")
    a.join(ACCOUNTS, _now())
    stale = a.beat(ACCOUNTS, set(), _now()).held["acct00"]
    time.sleep(TTL.total_seconds() + 0.1)
    b.join(ACCOUNTS, _now())
    fresh = b.beat(ACCOUNTS, set(), _now()).held["acct00"]
    assert fresh.token == stale.token + 1
    events_before = pg_store.count_events()
    with pytest.raises(LeaseLost, match="now held by b with token 2"):
        _admit(pg_store, "a", stale)
    with pytest.raises(LeaseLost):
        pg_store.record_tick("acct00", "t", _now(), GuardState(), {}, [], stale)
    assert pg_store.intents("acct00") == [] and pg_store.count_events() == events_before
    admitted = _admit(pg_store, "b", fresh)
    assert [p.client_order_id for p in admitted.admitted] == ["c1"]
    pg_store.record_tick("acct00", "t", _now(), GuardState(), {}, [], fresh)


@pytest.mark.postgres
def test_admit_when_lease_nearly_expired_then_margin_refuses(pg_store: Store) -> None:
    a = _manager(pg_store, "a")
    a.join(ACCOUNTS, _now())
    held = a.beat(ACCOUNTS, set(), _now()).held["acct01"]
    greedy = Fence(held.replica, held.token, margin=TTL * 2)
    with pytest.raises(LeaseLost, match="under the"):
        pg_store.record_tick("acct01", "t", _now(), GuardState(), {}, [], greedy)
    pg_store.record_tick("acct01", "t", _now(), GuardState(), {}, [], held)


@pytest.mark.postgres
def test_join_when_replica_id_is_alive_then_refused(pg_store: Store) -> None:
    _manager(pg_store, "same").join(ACCOUNTS, _now())
    with pytest.raises(LeaseConflict, match="used by a live replica"):
        _manager(pg_store, "same").join(ACCOUNTS, _now())


@pytest.mark.postgres
def test_join_when_id_reused_after_death_then_old_leases_handed_back_and_retaken_with_new_token(
    pg_store: Store,
) -> None:
    old = _manager(pg_store, "r1")
    old.join(ACCOUNTS, _now())
    old.beat(ACCOUNTS, set(), _now())
    time.sleep(TTL.total_seconds() + 0.1)
    new = _manager(pg_store, "r1")
    new.join(ACCOUNTS, _now())
    assert set(_holders(pg_store).values()) == {None}
    beat = new.beat(ACCOUNTS, set(), _now())
    assert {f.token for f in beat.held.values()} == {2}  # the old process's fences are void


@pytest.mark.postgres
def test_fence_when_no_renewal_past_local_deadline_then_lapsed_before_expiry(
    pg_store: Store,
) -> None:
    clock = FakeMonotonic()
    a = _manager(pg_store, "a", clock)
    a.join(ACCOUNTS, _now())
    a.beat(ACCOUNTS, set(), _now())
    assert a.fence("acct00") is not None and a.lapse() == []
    clock.now += (TTL - RENEW).total_seconds()  # the database is unreachable meanwhile
    assert a.fence("acct00") is None
    assert a.lapse() == ACCOUNTS and a.held == {}
    again = a.beat(ACCOUNTS, set(), _now())  # reachable again, nobody took them: same token
    assert sorted(again.acquired) == ACCOUNTS and {f.token for f in again.held.values()} == {1}


@pytest.mark.postgres
def test_leave_when_shutting_down_then_leases_free_and_replica_not_counted_alive(
    pg_store: Store,
) -> None:
    a, b = _manager(pg_store, "a"), _manager(pg_store, "b")
    a.join(ACCOUNTS, _now())
    a.beat(ACCOUNTS, set(), _now())
    b.join(ACCOUNTS, _now())
    assert a.leave(_now()) == ACCOUNTS
    assert set(_holders(pg_store).values()) == {None}
    beat = b.beat(ACCOUNTS, set(), _now())
    assert beat.alive == 1 and sorted(beat.acquired) == ACCOUNTS


def test_runner_when_leases_on_sqlite_then_config_error_names_the_field(tmp_path: Path) -> None:
    config = tmp_path / "guard.yaml"
    config.write_text(
        f"""
version: 1
service:
  database_url: sqlite:///{tmp_path / "guard.db"}
  create_schema: true
  leases: {{enabled: true}}
accounts:
  - name: sim
    venue: paper
    policies: [{POLICY}]
"""
    )
    with pytest.raises(ConfigError, match=r"service\.leases\.enabled.*PostgreSQL"):
        Runner(config, install_signals=False)


def test_config_when_renew_over_half_ttl_then_error_names_the_field(tmp_path: Path) -> None:
    config = tmp_path / "guard.yaml"
    config.write_text(
        f"""
version: 1
service:
  leases: {{enabled: true, ttl: 2s, renew: 1.5s}}
accounts:
  - name: sim
    venue: paper
    policies: [{POLICY}]
"""
    )
    from guard.service.config import load_config

    with pytest.raises(ConfigError, match="at most half"):
        load_config(config)


@pytest.mark.postgres
async def test_tick_when_lease_lost_mid_crash_then_no_intent_and_new_holder_acts(
    pg_store: Store,
) -> None:
    from tests.service.helpers import ACCOUNT, rig

    a, b = _manager(pg_store, "a"), _manager(pg_store, "b")
    a.join([ACCOUNT], _now())
    stale = a.beat([ACCOUNT], set(), _now()).held[ACCOUNT]
    time.sleep(TTL.total_seconds() + 0.1)  # a hangs past its lease; b takes the account over
    b.join([ACCOUNT], _now())
    fresh = b.beat([ACCOUNT], set(), _now()).held[ACCOUNT]
    crash = rig(pg_store)
    crash.runtime.fence = stale
    reports = await crash.run(90)  # through the cascade: the guard would reduce here
    assert all(r.error is not None and "lost the lease" in r.error for r in reports)
    assert pg_store.intents(ACCOUNT) == []
    assert pg_store.count_events(EventKind.INTENT.value) == 0
    errors = pg_store.tail(5, account=ACCOUNT, kind=EventKind.ERROR.value)
    assert errors and "now held by b" in errors[-1].message

    renewed = b.beat([ACCOUNT], set(), _now()).held[ACCOUNT]
    assert renewed == fresh  # renewing keeps the token
    crash.runtime.fence = fresh  # the holder of the lease acts on the same market
    acted = await crash.tick()
    assert acted.error is None and acted.execution is not None and acted.execution.sent >= 1
    assert {i.status.value for i in pg_store.intents(ACCOUNT)} <= {"filled", "partially_filled"}
