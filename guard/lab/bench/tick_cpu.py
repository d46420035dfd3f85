"""CPU per steady-state tick, without the scheduler: the real GuardService (its store, database
thread, paper venues and log line) ticks N calm paper accounts back to back; process CPU (every
thread) per tick, and the audit rows each tick wrote. Measures, for docs/benchmarks.md."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import ParamSpec, TextIO, TypeVar

import psycopg

from guard.lab.bench.stats import cpu_seconds, percentile
from guard.lab.bench.ticks import write_config
from guard.service.db_thread import DatabaseThread
from guard.service.logs import logging_to
from guard.service.runner import Runner

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class TickCpu:
    database: str  # "SQLite" or "PostgreSQL"
    accounts: int
    ticks: int
    cpu_ms: float  # process CPU (all threads) per tick
    store_cpu_ms: float  # CPU of the database thread's store calls per tick
    wall_p50_ms: float
    wall_p99_ms: float
    audit_rows_per_tick: float
    server_cpu_ms: float | None = None  # PostgreSQL backends' CPU per tick (local server only)


class MeteredDatabaseThread(DatabaseThread):
    """The service's database thread, adding up the CPU time of its calls (time.thread_time
    inside the worker: store code, SQLAlchemy and the driver)."""

    __slots__ = ("cpu",)

    def __init__(self) -> None:
        super().__init__()
        self.cpu = 0.0

    async def run(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        def metered() -> T:
            began = time.thread_time()
            try:
                return call(*args, **kwargs)
            finally:
                self.cpu += time.thread_time() - began

        return await super().run(metered)


def postgres_server_cpu() -> float | None:
    """CPU seconds used so far by every local `postgres` process (from /proc; None when none is
    visible, e.g. a remote server): the server's side of the ticks, measured as a difference."""
    total, seen = 0.0, False
    ticks = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        if not name.startswith("postgres"):
            continue
        fields = text[text.rindex(")") + 2 :].split()
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
        seen = True
    return total if seen else None


@contextmanager
def scratch_postgres(admin_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database on the server of `admin_url`, dropped afterwards."""
    name = f"guard_bench_{uuid.uuid4().hex[:10]}"
    plain = admin_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def measure_tick_cpu(
    folder: Path,
    accounts: int,
    *,
    rounds: int,
    policy: Path,
    database_url: str | None = None,
    log: TextIO,
) -> TickCpu:
    """Tick every account `rounds` times after two warm-up rounds; `database_url` None is a
    SQLite file in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    config = write_config(folder, accounts, 5.0, policy, database_url)
    with logging_to(log):
        runner = Runner(config, install_signals=False)
        service = runner.service
        metered = MeteredDatabaseThread()
        service.db = metered
        names = sorted(service.accounts)
        server: list[float | None] = [None, None]

        async def main() -> tuple[float, list[float], int]:
            for _ in range(2):
                for name in names:
                    await service.tick(name)
            rows_before = runner.store.count_events()
            walls: list[float] = []
            metered.cpu = 0.0
            server[0] = postgres_server_cpu() if database_url is not None else None
            began = cpu_seconds()
            for _ in range(rounds):
                for name in names:
                    start = time.perf_counter()
                    await service.tick(name)
                    walls.append(time.perf_counter() - start)
            cpu = cpu_seconds() - began
            after = postgres_server_cpu() if database_url is not None else None
            server[1] = after
            service.db.close()
            return cpu, walls, runner.store.count_events() - rows_before

        try:
            cpu, walls, rows = asyncio.run(main())
        finally:
            runner.store.dispose()
    ticks = len(walls)
    return TickCpu(
        database="SQLite" if database_url is None else "PostgreSQL",
        accounts=accounts,
        ticks=ticks,
        cpu_ms=1000 * cpu / ticks,
        store_cpu_ms=1000 * metered.cpu / ticks,
        wall_p50_ms=1000 * percentile(walls, 0.50),
        wall_p99_ms=1000 * percentile(walls, 0.99),
        audit_rows_per_tick=rows / ticks,
        server_cpu_ms=(
            1000 * (server[1] - server[0]) / ticks
            if server[0] is not None and server[1] is not None
            else None
        ),
    )
