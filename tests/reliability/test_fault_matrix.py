"""Fault matrix on the gateway: each scripted venue or network fault and the outcome the guard must
show — no duplicate order, no lost audit event, no retry storm, the loop keeps going."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from guard.core.domain import OrderStatus, Side
from guard.core.policy.schema import PolicyFile, PolicySet
from guard.core.venues.paper import RULES
from guard.gateway.faults import Fault, FaultyGateway
from guard.gateway.paper.book import SlippageModel
from guard.gateway.paper.path import PricePath
from guard.gateway.paper.venue import PaperVenue
from guard.service import AccountRuntime, GuardService
from guard.store import Store
from tests.builders import T0, D, spec

BTC = "BTC/USDT:USDT"
ACCOUNT = "acct"

# One band at 12 % distance: 1 BTC on 6000 is liquidated near 54,221; at 61,000 the distance is
# 11.1 %, so the first tick plans one reduce-only sell of 0.5 BTC.
POLICY = PolicySet.of(
    [
        (
            "inline",
            PolicyFile.model_validate(
                {
                    "version": 1,
                    "rules": [
                        {
                            "id": "ladder",
                            "kind": "exit_ladder",
                            "metric": "liquidation_distance",
                            "bands": [{"trigger": "12%", "reduce": "50%"}],
                            "rearm": "30%",
                        },
                        {"id": "stale", "kind": "stale_data", "max_age": "2m"},
                    ],
                }
            ),
        )
    ]
)


@dataclass
class Rig:
    venue: PaperVenue
    gateway: FaultyGateway
    store: Store
    service: GuardService

    def advance(self, minutes: int) -> None:
        self.venue.advance_to(self.venue.now + timedelta(minutes=minutes))

    def fills(self) -> int:
        return len(self.venue.accounts[ACCOUNT].fills)

    def position(self) -> Decimal:
        held = self.venue.accounts[ACCOUNT].positions
        return sum((p.quantity for p in held.values()), Decimal(0))

    def events(self, kind: str) -> int:
        return self.store.count_events(kind, ACCOUNT)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    path = PricePath({BTC: tuple((T0 + timedelta(minutes=m), D(61000)) for m in range(0, 60))})
    venue = PaperVenue({BTC: spec(BTC)}, path, slippage=SlippageModel(D(0), D(0)))
    venue.open_account(ACCOUNT, D(6000))
    venue.seed_position(ACCOUNT, BTC, Side.LONG, D(1), D(60000), D(10))
    gateway = FaultyGateway(venue)
    store = Store(f"sqlite:///{tmp_path / 'guard.db'}")
    store.create_schema()
    service = GuardService(
        store=store,
        accounts={ACCOUNT: AccountRuntime(ACCOUNT, RULES, gateway, POLICY)},
        clock=lambda: venue.now,
    )
    yield Rig(venue, gateway, store, service)
    store.dispose()


async def run_ticks(rig: Rig, count: int) -> None:
    for _ in range(count):
        await rig.service.tick(ACCOUNT)
        rig.advance(1)


async def test_create_times_out_before_venue_when_ticked_then_unknown_then_reconciled_once(
    rig: Rig,
) -> None:
    rig.gateway.plan.add("create_order", [Fault.TIMEOUT])
    await run_ticks(rig, 3)
    assert rig.fills() == 0  # never blindly resent by the ticks themselves
    unresolved = rig.store.unresolved_intents(ACCOUNT)
    assert [i.status for i in unresolved] == [OrderStatus.UNKNOWN]
    assert rig.events("order_unknown") == 1
    await rig.service.reconcile()  # start-up reconciliation: not at the venue, young → sent once
    await rig.service.reconcile()
    assert rig.fills() == 1
    assert rig.position() == D("0.5")
    assert rig.store.unresolved_intents(ACCOUNT) == []


@pytest.mark.parametrize("fault", [Fault.TIMEOUT_AFTER_ACCEPT, Fault.RESET_AFTER_ACCEPT])
async def test_venue_accepted_but_answer_lost_when_ticked_then_found_by_client_id_not_resent(
    rig: Rig, fault: Fault
) -> None:
    rig.gateway.plan.add("create_order", [fault])
    await run_ticks(rig, 3)
    await rig.service.reconcile()
    assert rig.fills() == 1
    assert rig.gateway.calls["create_order"] == 1
    assert rig.gateway.calls["fetch_order"] >= 1
    intents = rig.store.intents(ACCOUNT)
    assert [i.status for i in intents] == [OrderStatus.FILLED]


@pytest.mark.parametrize("fault", [Fault.RATE_LIMITED, Fault.SERVER_ERROR, Fault.TIMEOUT])
async def test_snapshot_read_fails_when_ticked_then_error_audited_and_next_tick_acts(
    rig: Rig, fault: Fault
) -> None:
    rig.gateway.plan.add("fetch_snapshot", [fault])
    await rig.service.tick(ACCOUNT)
    assert rig.events("error") == 1 and rig.fills() == 0
    await rig.service.tick(ACCOUNT)
    assert rig.fills() == 1


async def test_reduce_only_rejected_when_ticked_again_then_recorded_once_and_no_retry_storm(
    rig: Rig,
) -> None:
    rig.gateway.plan.add("create_order", [Fault.REDUCE_ONLY_REJECTED])
    await run_ticks(rig, 5)
    assert rig.gateway.calls["create_order"] == 1
    assert rig.events("order_rejected") == 1
    assert [i.status for i in rig.store.intents(ACCOUNT)] == [OrderStatus.REJECTED]


async def test_partial_fill_when_ticked_again_then_recorded_and_step_not_resent(rig: Rig) -> None:
    rig.gateway.plan.add("create_order", [Fault.PARTIAL_FILL])
    await run_ticks(rig, 4)
    assert rig.gateway.calls["create_order"] == 1
    assert rig.position() == D("0.75")
    intents = rig.store.intents(ACCOUNT)
    assert [i.status for i in intents] == [OrderStatus.PARTIALLY_FILLED]
    assert intents[0].filled_quantity == D("0.25")
    assert rig.events("order_partially_filled") == 1


async def test_stale_snapshot_when_ticked_then_no_order_and_alert(rig: Rig) -> None:
    rig.gateway.plan.add("fetch_snapshot", [Fault.STALE])
    await rig.service.tick(ACCOUNT)
    assert rig.fills() == 0 and rig.gateway.calls["create_order"] == 0
    assert rig.events("alert") >= 1
    await rig.service.tick(ACCOUNT)
    assert rig.fills() == 1


async def test_contradictory_snapshot_when_ticked_then_no_order_and_alert(rig: Rig) -> None:
    rig.gateway.plan.add("fetch_snapshot", [Fault.CONTRADICTORY])
    await rig.service.tick(ACCOUNT)
    assert rig.gateway.calls["create_order"] == 0
    assert rig.events("alert") + rig.events("error") >= 1
    await rig.service.tick(ACCOUNT)
    assert rig.fills() == 1


async def test_auth_refused_when_ticked_then_account_stops_acting_and_error_audited(
    rig: Rig,
) -> None:
    rig.gateway.plan.add("fetch_snapshot", [Fault.AUTH])
    await run_ticks(rig, 3)
    assert rig.fills() == 0
    assert rig.gateway.calls["fetch_snapshot"] == 1  # no hammering a venue that refused the key
    assert rig.events("error") == 1


async def test_audit_chain_when_faults_injected_then_intact(rig: Rig) -> None:
    rig.gateway.plan.add("create_order", [Fault.TIMEOUT_AFTER_ACCEPT])
    rig.gateway.plan.add("fetch_snapshot", [Fault.SERVER_ERROR])
    await run_ticks(rig, 4)
    assert rig.store.verify_chain()[0]


async def test_repeated_429_when_ticked_then_one_call_per_tick_health_degraded_then_acts(
    rig: Rig,
) -> None:
    rig.gateway.plan.add("fetch_snapshot", [Fault.RATE_LIMITED] * 3)
    for tick in range(1, 4):
        report = await rig.service.tick(ACCOUNT)
        assert report.error is not None and "429" in report.error
        assert rig.gateway.calls["fetch_snapshot"] == tick  # no retry storm from the loop
        assert "429" in rig.service.health.reasons[ACCOUNT]["venue"]
    assert rig.events("error") == 3 and rig.fills() == 0
    await rig.service.tick(ACCOUNT)  # the venue answers again: the breach is acted on
    assert rig.fills() == 1
    assert "venue" not in rig.service.health.reasons.get(ACCOUNT, {})


async def test_5xx_storm_when_ticked_then_health_degraded_until_venue_recovers(rig: Rig) -> None:
    rig.gateway.plan.add("fetch_snapshot", [Fault.SERVER_ERROR] * 5)
    for _ in range(5):
        await rig.service.tick(ACCOUNT)
        healthy, reasons = rig.service.health.status()
        assert not healthy and any("HTTP 502" in r for r in reasons)
    assert rig.events("error") == 5 and rig.fills() == 0
    await rig.service.tick(ACCOUNT)
    assert rig.fills() == 1
    assert "venue" not in rig.service.health.reasons.get(ACCOUNT, {})


async def test_accepted_then_lookups_time_out_when_ticked_then_unknown_until_found_never_resent(
    rig: Rig,
) -> None:
    rig.gateway.plan.add("create_order", [Fault.TIMEOUT_AFTER_ACCEPT])
    rig.gateway.plan.add("fetch_order", [Fault.TIMEOUT, Fault.TIMEOUT])
    await rig.service.tick(ACCOUNT)  # sent, answer lost, first look-up times out
    assert [i.status for i in rig.store.intents(ACCOUNT)] == [OrderStatus.UNKNOWN]
    rig.advance(1)
    await rig.service.tick(ACCOUNT)  # look-up times out again: still unknown, not resent
    assert [i.status for i in rig.store.intents(ACCOUNT)] == [OrderStatus.UNKNOWN]
    assert rig.gateway.calls["create_order"] == 1
    rig.advance(1)
    await rig.service.tick(ACCOUNT)  # found by client id
    assert [i.status for i in rig.store.intents(ACCOUNT)] == [OrderStatus.FILLED]
    assert rig.gateway.calls["create_order"] == 1 and rig.fills() == 1
    assert rig.events("order_unknown") == 1 and rig.events("order_filled") == 1


@dataclass(frozen=True)
class Row:
    """One fault of the matrix: where it is injected, the expected outcome, the test proving it."""

    fault: str
    layer: str
    expected: str
    test: str


# Mirrored in docs/reliability.md (keep both in step; the test below checks the names exist).
FAULT_MATRIX = (
    Row("create times out before the venue saw it", "service", "intent unknown, one order_unknown event; no resend by ticks; start-up reconciliation sends it once (same client id)", "tests/reliability/test_fault_matrix.py::test_create_times_out_before_venue_when_ticked_then_unknown_then_reconciled_once"),
    Row("create times out after the venue accepted", "service", "found by client id, recorded filled; create_order called once", "tests/reliability/test_fault_matrix.py::test_venue_accepted_but_answer_lost_when_ticked_then_found_by_client_id_not_resent"),
    Row("connection reset after the venue accepted", "service", "same as above: looked up by client id, never resent", "tests/reliability/test_fault_matrix.py::test_venue_accepted_but_answer_lost_when_ticked_then_found_by_client_id_not_resent"),
    Row("accepted, then the look-ups time out too", "service", "unknown across ticks, looked up each tick, never resent; filled once found", "tests/reliability/test_fault_matrix.py::test_accepted_then_lookups_time_out_when_ticked_then_unknown_until_found_never_resent"),
    Row("snapshot read: 429 / 5xx / timeout once", "service", "error audited, no order; next tick acts", "tests/reliability/test_fault_matrix.py::test_snapshot_read_fails_when_ticked_then_error_audited_and_next_tick_acts"),
    Row("repeated 429s", "service", "one venue call per tick (no retry storm), error per tick, health degraded; acts once the venue answers", "tests/reliability/test_fault_matrix.py::test_repeated_429_when_ticked_then_one_call_per_tick_health_degraded_then_acts"),
    Row("5xx storm", "service", "health degraded (reason names HTTP 502) for every failing tick; recovers and acts", "tests/reliability/test_fault_matrix.py::test_5xx_storm_when_ticked_then_health_degraded_until_venue_recovers"),
    Row("429 through ccxt, short Retry-After", "gateway", "the venue's gate closes for Retry-After, the read is retried when it reopens, 'attempt n' logged, then succeeds", "tests/gateway/test_ccxt_faults.py::test_read_when_rate_limited_with_429_and_short_retry_after_then_waits_and_succeeds"),
    Row("418 ban with long Retry-After", "gateway", "venue-wide cool-down: no request to the venue until it passes (reads and orders fail at once, 'not sent'); protective work first when it reopens", "tests/gateway/test_ccxt_cooldown.py::test_venue_when_418_with_retry_after_then_nothing_sent_until_it_passes_then_protective_first"),
    Row("5xx through ccxt, persisting", "gateway", "exactly read_attempts tries, then TemporaryError; no write", "tests/gateway/test_ccxt_faults.py::test_read_when_5xx_persists_then_exactly_read_attempts_are_made"),
    Row("429 / 5xx storm through ccxt into the service", "gateway+service", "read_attempts tries per tick with backoff, one error event per tick, health degraded; recovers and the next tick plans", "tests/reliability/test_ccxt_storms.py::test_ccxt_storm_when_ticked_then_bounded_retries_per_tick_then_recovers"),
    Row("create times out through ccxt", "gateway", "looked up by client id, filled, not resent", "tests/gateway/test_ccxt_faults.py::test_create_when_it_times_out_then_resolved_by_client_id_and_not_resent"),
    Row("reduce-only rejected (position gone)", "service", "rejected recorded once; no retry on later ticks", "tests/reliability/test_fault_matrix.py::test_reduce_only_rejected_when_ticked_again_then_recorded_once_and_no_retry_storm"),
    Row("reduce-only rejected through ccxt", "gateway", "OrderRejected, recorded, no retry", "tests/gateway/test_ccxt_faults.py::test_reduce_only_when_position_already_gone_then_rejected_recorded_without_retry"),
    Row("partial fill (IOC rest cancelled)", "service", "partially_filled recorded with the filled size; the step is not resent", "tests/reliability/test_fault_matrix.py::test_partial_fill_when_ticked_again_then_recorded_and_step_not_resent"),
    Row("stale snapshot", "service", "no order, alert; next fresh tick acts", "tests/reliability/test_fault_matrix.py::test_stale_snapshot_when_ticked_then_no_order_and_alert"),
    Row("contradictory snapshot (negative size)", "service", "no order, alert/error; next tick acts", "tests/reliability/test_fault_matrix.py::test_contradictory_snapshot_when_ticked_then_no_order_and_alert"),
    Row("credentials refused", "service", "account disabled after one call, error audited, no hammering", "tests/reliability/test_fault_matrix.py::test_auth_refused_when_ticked_then_account_stops_acting_and_error_audited"),
    Row("mixed faults", "service", "audit hash chain intact", "tests/reliability/test_fault_matrix.py::test_audit_chain_when_faults_injected_then_intact"),
    Row("database stopped mid-run", "store", "orders still sent; writes journaled (fsync); flushed in order on recovery, each event once, chain intact, no order twice, final intent statuses", "tests/reliability/test_database_outage.py::test_database_stopped_mid_run_when_breach_then_orders_sent_and_journal_flushed_once"),
    Row("lock set before the outage", "store", "honoured from the last read during the outage", "tests/reliability/test_database_outage.py::test_lock_set_before_outage_when_breach_during_it_then_still_honoured"),
    Row("crash during the journal flush", "store", "restart flushes the rest; nothing written twice", "tests/reliability/test_database_outage.py::test_process_crashes_during_flush_when_restarted_then_no_row_written_twice"),
    Row("pause file set while the database is down", "store+service", "the planned order is held at the offline egress gate naming the pause, audited and alerted; sent once the pause ends (resume or expiry); a malformed file holds everything and names itself", "tests/reliability/test_pause_file.py::test_pause_set_while_database_down_when_band_breached_then_held_until_resume"),
    Row("PostgreSQL blackholed (connections hang)", "store", "the hung call is cut after the database thread's bound and journaled; later calls do not wait for the connect timeout; flushed in order once the network heals", "tests/reliability/test_blackhole.py::test_blackholed_postgres_when_store_called_then_cut_journaled_and_flushed_after"),
    Row("database faults on guard run (measured)", "service", "see the measured database fault matrix", "tests/reliability/test_db_fault_matrix.py::test_database_fault_when_injected_then_measured_and_nothing_lost"),
    Row("garbage policy files", "config", "a PolicyFile or ConfigError with file:line, nothing else", "tests/reliability/test_fuzz.py::test_mutated_policy_when_loaded_then_policy_or_config_error_with_file_line"),
    Row("garbage venue payloads", "parsers", "a snapshot or PayloadError naming venue and field, nothing else", "tests/reliability/test_fuzz.py::test_mutated_payload_when_parsed_then_snapshot_or_payload_error_naming_venue_and_field"),
    Row("a tick fed garbage", "service", "error audited naming the venue payload; the next tick works", "tests/reliability/test_fuzz.py::test_tick_fed_garbage_when_next_tick_runs_then_error_audited_and_loop_survives"),
)  # fmt: skip


def test_matrix_when_listed_then_every_row_names_an_existing_test() -> None:
    root = Path(__file__).resolve().parents[2]
    for row in FAULT_MATRIX:
        path, name = row.test.split("::")
        source = (root / path).read_text()
        assert f"def {name}(" in source, row.test
    doc = root / "docs" / "reliability.md"
    if doc.exists():  # the documented table mirrors this one
        text = doc.read_text()
        missing = [row.fault for row in FAULT_MATRIX if row.fault not in text]
        assert missing == [], f"docs/reliability.md lacks rows for {missing}"
