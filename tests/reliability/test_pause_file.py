"""The operator's pause file during a database outage (issue 21, Build 4): a pause written while
the database is down holds back, at the egress gate, an order the guard would otherwise send; it
ends by `guard resume` or by expiring; a malformed file pauses everything and says why. Each is
audited (flushed from the journal), alerted and shown in health. A private PostgreSQL cluster is
stopped: the shared server is never touched."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from guard.core.pause import Pause
from guard.service.pause_file import PauseReader, write_pauses
from tests.reliability.pgcluster import PgCluster
from tests.reliability.test_database_outage import ACCOUNT, BTC, Rig, make_rig


@pytest.fixture
def rig(pg: PgCluster, tmp_path: Path) -> Iterator[Rig]:
    made = make_rig(pg.url, tmp_path / "journal.jsonl")
    made.service.pauses = PauseReader(tmp_path / "guard.pause.json", made.service.clock)
    yield made
    made.store.dispose()


def pause_path(rig: Rig) -> Path:
    assert rig.service.pauses is not None
    return rig.service.pauses.path


async def run_until_outage(rig: Rig, pg: PgCluster) -> None:
    """Minute 0: the 12 % band is sent with the database up; minute 1 quiet; then it stops."""
    await rig.tick()
    await rig.tick()
    assert len(rig.fill_ids()) == 1
    pg.stop()


async def ticks(rig: Rig, count: int) -> None:
    for _ in range(count):
        await rig.tick()


def kinds(rig: Rig, kind: str) -> list[str]:
    return [e.message for e in rig.store.events() if e.kind == kind]


async def test_pause_set_while_database_down_when_band_breached_then_held_until_resume(
    rig: Rig, pg: PgCluster
) -> None:
    await run_until_outage(rig, pg)
    write_pauses(pause_path(rig), (Pause("manual hedge", "ops", rig.venue.now),))
    await ticks(rig, 6)  # minutes 2..7: the 9 % band is breached at minute 6, held at the gate
    assert len(rig.fill_ids()) == 1
    assert not rig.store.available  # all of it on the journal
    reasons = rig.service.health.reasons[ACCOUNT]
    assert "manual hedge" in reasons["pause"] and "database" in reasons
    assert [a.title for a in rig.service.notifier.sent if a.key.startswith("pause:")] == [
        "guard lock: paused"
    ]
    pause_path(rig).unlink()  # guard resume
    await rig.tick()  # minute 8, still on the journal: the held step goes out now
    assert len(rig.fill_ids()) == 2 and not rig.store.available
    assert "pause" not in rig.service.health.reasons[ACCOUNT]
    pg.start()
    await rig.tick()  # flushed
    held = kinds(rig, "order_suppressed")
    assert held and all("pause of every account by ops" in m for m in held)
    assert len(kinds(rig, "pause_seen")) == 1
    assert [m.split(":")[0] for m in kinds(rig, "pause_ended")] == ["removed (guard resume)"]
    fills = rig.fill_ids()
    assert len(fills) == len(set(fills)) == 2
    assert rig.store.verify_chain()[0]


async def test_pause_with_end_when_it_passes_during_outage_then_expired_and_step_sent(
    rig: Rig, pg: PgCluster
) -> None:
    await run_until_outage(rig, pg)
    until = rig.venue.now + timedelta(minutes=5)  # minute 7
    write_pauses(
        pause_path(rig), (Pause("venue maintenance", "ops", rig.venue.now, until, ACCOUNT),)
    )
    await ticks(rig, 5)  # minutes 2..6: held at minute 6
    assert len(rig.fill_ids()) == 1
    await rig.tick()  # minute 7: the pause has ended by itself
    assert len(rig.fill_ids()) == 2
    assert "pause" not in rig.service.health.reasons[ACCOUNT]
    pg.start()
    await rig.tick()
    assert [m.split(":")[0] for m in kinds(rig, "pause_ended")] == ["expired"]
    assert rig.store.verify_chain()[0]


async def test_pause_file_malformed_when_band_breached_then_everything_held_and_file_named(
    rig: Rig, pg: PgCluster
) -> None:
    await run_until_outage(rig, pg)
    pause_path(rig).write_text('{"format": 1, "pauses": [{"reason": "half-writ')
    await ticks(rig, 6)
    assert len(rig.fill_ids()) == 1
    reason = rig.service.health.reasons[ACCOUNT]["pause"]
    assert str(pause_path(rig)) in reason and "malformed (not JSON" in reason
    alerts = [a.body for a in rig.service.notifier.sent if a.key.startswith("pause:")]
    assert len(alerts) == 1 and str(pause_path(rig)) in alerts[0]
    pause_path(rig).unlink()
    await rig.tick()
    assert len(rig.fill_ids()) == 2


async def test_market_pause_when_database_up_then_gate_holds_that_market_only_from_the_file(
    rig: Rig,
) -> None:
    write_pauses(
        pause_path(rig),
        (Pause("other market", "ops", rig.venue.now, None, ACCOUNT, "ETH/USDT:USDT"),),
    )
    await rig.tick()  # minute 0: the 12 % band on BTC is not covered: sent
    assert len(rig.fill_ids()) == 1
    write_pauses(pause_path(rig), (Pause("this market", "ops", rig.venue.now, None, ACCOUNT, BTC),))
    await ticks(rig, 6)  # minutes 1..6: the 9 % band is held by the database-up gate
    assert len(rig.fill_ids()) == 1
    held = kinds(rig, "order_suppressed")
    assert held and f"market {BTC} of account {ACCOUNT}" in held[-1]
    assert rig.store.verify_chain()[0]
