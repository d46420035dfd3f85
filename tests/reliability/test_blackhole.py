"""PostgreSQL blackholed (connections hang instead of being refused, through a local TCP proxy
that stops forwarding; a private cluster, never the shared server): a store call hung on it is cut
after the database thread's bound and journaled, later calls do not wait for the connect timeout
(the probe runs off the database thread), and once the network heals the journal is flushed."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

from guard.core.audit import AuditEvent, EventKind
from guard.service.db_thread import DatabaseThread
from guard.store.journaled_store import JournaledStore
from tests.reliability.db_fault_rig import Blackhole
from tests.reliability.pgcluster import PgCluster


def event(n: int) -> list[AuditEvent]:
    return [AuditEvent(EventKind.ERROR, f"note {n}", account="acct")]


async def timed(db: DatabaseThread, *args: object) -> float:
    began = time.monotonic()
    await asyncio.wait_for(db.run(*args), timeout=10)  # type: ignore[arg-type]
    return time.monotonic() - began


async def test_blackholed_postgres_when_store_called_then_cut_journaled_and_flushed_after(
    cluster: PgCluster, tmp_path: Path
) -> None:
    proxy = Blackhole(cluster.port)
    url = cluster.url.replace(f":{cluster.port}/", f":{proxy.port}/")
    store = JournaledStore(url, tmp_path / "journal.jsonl", probe_interval=0)
    db = DatabaseThread(0.5, store.interrupt)
    try:
        store.create_schema()
        now = datetime.now(UTC)
        await timed(db, store.audit, event(1), now)  # a pooled connection, through the proxy
        assert store.available
        proxy.hang()
        first = await timed(db, store.audit, event(2), now)
        assert first < 2.0, f"the hung call took {first:.1f}s"
        assert not store.available and store.journal.pending()
        later = [await timed(db, store.audit, event(n), now) for n in range(3, 6)]
        assert max(later) < 1.5, f"calls during the blackhole took {later}"
        assert len(store.journal.pending()) == 4
        proxy.heal()
        deadline = time.monotonic() + 15
        while not store.available and time.monotonic() < deadline:
            await timed(db, store.audit, event(99), now)
            await asyncio.sleep(0.2)
        assert store.available and store.journal.pending() == []
        messages = [e.message for e in store.events()]
        assert [m for m in messages if m in {f"note {n}" for n in range(1, 6)}] == [
            f"note {n}" for n in range(1, 6)
        ]
        assert store.verify_chain()[0]
    finally:
        proxy.close()  # heals first: a call still hung (the fix broken) completes, then the close
        db.close()
        store.dispose()
