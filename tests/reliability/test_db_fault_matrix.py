"""The measured database fault matrix (issue 21): each row runs `guard run` on two paper accounts
through the crash scenario (poll 1 s) with one database fault injected, and prints one summary
line (docs/reliability.md quotes them). CI runs the fast rows; `scripts/soak` sets
GUARD_DB_FAULT_SOAK=1 and runs every row. Never touches the shared PostgreSQL server: the
PostgreSQL rows stop or blackhole a private cluster."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from guard.store import Store
from tests.reliability.db_fault_rig import POLL, Blackhole, Outcome, Trial, now
from tests.reliability.pgcluster import PgCluster

SOAK = os.environ.get("GUARD_DB_FAULT_SOAK") == "1"
HOLD = (
    "import sqlite3, sys, time\n"
    "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
    "c.execute('BEGIN IMMEDIATE')\n"
    "print('locked', flush=True)\n"
    "time.sleep(3600)\n"
)


@dataclass(frozen=True)
class Row:
    name: str
    database: str  # sqlite | postgres
    duration: float
    journal: bool = True
    leases: bool = False
    fast: bool = False  # runs in CI
    writable: bool = True  # a store (database or journal) stays writable: gap goal applies


ROWS = (
    Row("SQLite locked 5 s by another process", "sqlite", 5, fast=True),
    Row("SQLite locked 30 s by another process", "sqlite", 30),
    Row("SQLite locked 60 s by another process", "sqlite", 60),
    Row("SQLite locked 30 s, no journal", "sqlite", 30, journal=False, writable=False),
    Row("SQLite on a full disk 20 s", "sqlite", 20),
    Row("PostgreSQL stopped (immediate) 20 s, no journal", "postgres", 20, journal=False,
        writable=False),
    Row("PostgreSQL stopped (immediate) 20 s, journal", "postgres", 20),
    Row("PostgreSQL stopped 20 s > lease ttl, leases, journal", "postgres", 20, leases=True),
    Row("PostgreSQL stopped 20 s > lease ttl, leases, no journal", "postgres", 20, leases=True,
        journal=False, writable=False),
    Row("PostgreSQL blackholed 20 s, journal", "postgres", 20),
    Row("SIGKILL during a PostgreSQL outage, restarted at once", "postgres", 20, fast=True),
    Row("journal disk full then freed during a PostgreSQL outage", "postgres", 20,
        writable=False),
    Row("lock set just before a PostgreSQL outage", "postgres", 8, fast=True),
    Row("lock set 3 s before a PostgreSQL outage", "postgres", 8),
)  # fmt: skip


def fresh_database(cluster: PgCluster, name: str) -> str:
    if not cluster.running():
        cluster.start()
    engine = create_engine(cluster.url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return cluster.url.rsplit("/", 1)[0] + f"/{name}"


def mount_tmpfs(where: Path, size: str) -> None:
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs for the full-disk row (needs root): {done.stderr}")


def fill(where: Path) -> None:
    """Fill the file system at `where` until ENOSPC (a real full disk)."""
    with (where / "filler").open("wb") as out:
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
        except OSError:
            pass


def unmount(where: Path) -> None:
    subprocess.run(["umount", "-l", str(where)], capture_output=True)


def trial_for(row: Row, folder: Path, cluster: Callable[[], PgCluster]) -> tuple[Trial, Any]:
    extra = ""
    if row.journal:
        journal_dir = folder / "journal"
        if "journal disk full" in row.name:
            mount_tmpfs(journal_dir, "4m")
        journal_dir.mkdir(exist_ok=True)
        extra += f"  journal: {journal_dir}/guard.journal.jsonl\n"
    if row.leases:
        extra += "  leases: {enabled: true}\n"
    context: dict[str, Any] = {}
    if row.database == "sqlite":
        db_dir = folder / "db"
        if "full disk" in row.name:
            mount_tmpfs(db_dir, "24m")
        db_dir.mkdir(exist_ok=True)
        url = f"sqlite:///{db_dir}/guard.db"
    else:
        pg = cluster()
        name = "f" + str(abs(hash(row.name)) % 10**8)
        url = fresh_database(pg, name)
        context["pg"] = pg
        if "blackholed" in row.name:
            proxy = Blackhole(pg.port)
            context["proxy"] = proxy
            url = url.replace(f":{pg.port}/", f":{proxy.port}/")
    return Trial(folder, url, extra), context


def faults(row: Row, folder: Path, context: dict[str, Any]):  # type: ignore[no-untyped-def]
    """(fault, heal, during) for `row`."""
    holder: dict[str, subprocess.Popen[str]] = {}
    pg: PgCluster | None = context.get("pg")  # type: ignore[assignment]

    def lock_sqlite(trial: Trial) -> None:
        proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder / "db" / "guard.db")],
                                stdout=subprocess.PIPE, text=True)  # fmt: skip
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        holder["p"] = proc

    def unlock_sqlite(trial: Trial) -> None:
        holder["p"].kill()
        holder["p"].wait(10)

    def stop_pg(trial: Trial) -> None:
        assert pg is not None
        pg.stop("immediate")

    def start_pg(trial: Trial) -> None:
        assert pg is not None
        pg.start()

    if row.database == "sqlite" and "locked" in row.name:
        return lock_sqlite, unlock_sqlite, None
    if "full disk" in row.name:
        return (
            (lambda t: fill(folder / "db")),
            (lambda t: (folder / "db" / "filler").unlink()),
            None,
        )
    if "blackholed" in row.name:
        proxy: Blackhole = context["proxy"]  # type: ignore[assignment]
        return (lambda t: proxy.hang()), (lambda t: proxy.heal()), None
    if "SIGKILL" in row.name:
        killed: dict[str, float] = context.setdefault("killed", {})

        def kill_midway(trial: Trial, elapsed: float) -> None:
            if elapsed >= row.duration / 2 and not killed:
                killed["at"] = elapsed
                trial.guard.kill()
                trial.guard.wait(10)
                trial.guard.start()  # restarted at once, the database still down
                killed["started"] = elapsed
                killed["exec"] = time.time()
            elif killed and not trial.guard.alive() and elapsed - killed["started"] >= 1:
                trial.guard.start()  # a supervisor's restart policy (Docker, systemd): again
                killed["started"] = elapsed
                killed["starts"] = killed.get("starts", 1) + 1
                trial.notes = f"{int(killed['starts']) - 1} start(s) refused while down"

        def start_pg_and_supervise(trial: Trial) -> None:
            start_pg(trial)
            if not trial.guard.alive():
                trial.guard.start()

        return stop_pg, start_pg_and_supervise, kill_midway
    if "journal disk full" in row.name:
        state: dict[str, bool] = {}

        def journal_disk(trial: Trial, elapsed: float) -> None:
            if elapsed >= 4 and "full" not in state:
                state["full"] = True
                fill(folder / "journal")
            if elapsed >= 12 and "freed" not in state:
                state["freed"] = True
                (folder / "journal" / "filler").unlink()

        return stop_pg, start_pg, journal_disk
    if "lock set" in row.name:

        def lock_then_stop(trial: Trial) -> None:
            store = Store(trial.url)  # in-process: the CLI's start-up is slow on a loaded host
            try:
                store.set_lock(reason="hedge", actor="ops", at=now(), account="crash-a")
            finally:
                store.dispose()
            # "just before": the service's next tick may or may not read it; "3 s": it has
            time.sleep(3.0 if "3 s before" in row.name else 0.3)
            stop_pg(trial)

        return lock_then_stop, start_pg, None
    return stop_pg, start_pg, None


def process_start(log: Path, since: float) -> tuple[float, bool]:
    """Seconds from `since` (the restart's exec) to the new process's first start-up line, and
    whether it started on the journal (`started_without_database`)."""
    for raw in log.read_text(errors="replace").splitlines():
        if not raw.startswith("{") or (
            '"service_start"' not in raw and "without_database" not in raw
        ):
            continue
        line = json.loads(raw)
        at = datetime.fromisoformat(line["timestamp"].replace("Z", "+00:00")).timestamp()
        if at >= since:
            return at - since, line.get("event") == "started_without_database"
    return 0.0, False


@pytest.mark.slow
@pytest.mark.parametrize("row", [r for r in ROWS if SOAK or r.fast], ids=lambda r: r.name)
def test_database_fault_when_injected_then_measured_and_nothing_lost(
    row: Row, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    folder = Path(f"/tmp/faults-matrix-{os.getpid()}-{int(time.time() * 1000)}")
    folder.mkdir()
    context: dict[str, Any] = {}
    try:
        trial, context = trial_for(row, folder, lambda: request.getfixturevalue("cluster"))
        fault, heal, during = faults(row, folder, context)
        outcome: Outcome = trial.run(
            row.name, fault, heal, duration=row.duration, during=during,
            warmup=5.0, after=10.0,
        )  # fmt: skip
        if "killed" in context:  # the part of the gap that is the new process starting
            startup, blind = process_start(trial.guard.log, context["killed"]["exec"])
            started = "on the journal" if blind else "after the outage (slower than it)"
            outcome.notes = "; ".join(
                n for n in (outcome.notes, f"process start {startup:.1f}s (exec to service_start), "
                            f"started {started}, gap without it {outcome.gap - startup:.1f}s") if n
            )  # fmt: skip
            context["startup"], context["blind"] = startup, blind
        print(outcome.line() + f" | load {os.getloadavg()[0]:.2f}", flush=True)
    finally:
        proxy = context.get("proxy")
        if isinstance(proxy, Blackhole):
            proxy.close()
        pg = context.get("pg")
        if isinstance(pg, PgCluster) and not pg.running():
            pg.start()
        for sub in ("db", "journal"):
            unmount(folder / sub)
        if (folder / "guard.log").exists():  # kept for a look at what the service logged
            keep = Path("/tmp") / f"faults-matrix-last-{row.name.split()[0].lower()}.log"
            shutil.copy(folder / "guard.log", keep)
        shutil.rmtree(folder, ignore_errors=True)
    assert outcome.duplicates == 0 and outcome.without_intent == 0
    assert outcome.lost_events == 0
    assert outcome.verify.startswith("exit 0"), outcome.verify
    assert outcome.restart.startswith("ok"), outcome.restart
    if "3 s before" in row.name:  # read before the outage: honoured from the last read
        assert outcome.sent_by_account.startswith("crash-a 0,"), outcome.line()
    if "killed" in context:  # a restart during the outage is never refused (known file)
        assert "refused while down" not in outcome.notes, outcome.line()
    if "killed" in context and context["startup"] < row.duration / 2 - 1:
        assert context["blind"], outcome.line()  # started during the outage: on the journal
    if row.writable:  # a restart's own process start (interpreter, imports) is not the guard's
        assert outcome.gap - context.get("startup", 0.0) <= 2 * POLL, outcome.line()
