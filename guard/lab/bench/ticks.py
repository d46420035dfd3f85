"""(b)+(c) Service tick throughput of ONE process: the real Runner (guard/service/runner.py, its
APScheduler jobs and its SQLite store) with N paper accounts, each behind a FaultyGateway adding
`latency` seconds to every venue call; measures ticks/s, tick lag (start − scheduled time),
missed ticks, CPU, RSS and venue calls per account per tick."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, defaultdict, deque
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    JobEvent,
    JobSubmissionEvent,
)

from guard.core.audit import EventKind
from guard.core.yaml_model import ConfigError
from guard.gateway.faults import FaultyGateway
from guard.lab.bench.stats import cpu_seconds, peak_rss_mb, percentile, rss_mb
from guard.service import AccountRuntime
from guard.service.config import GuardConfig
from guard.service.logs import logging_to
from guard.service.runner import Runner


@dataclass(frozen=True, slots=True)
class TickResult:
    accounts: int
    interval_s: float
    duration_s: float  # measured window (after the warm-up)
    setup_s: float  # building the runner: configs, paper venues, schema
    ticks: int
    ticks_per_s: float
    expected_ticks: int  # accounts × whole intervals in the window
    lag_p50_ms: float
    lag_p99_ms: float
    lag_max_ms: float
    missed: int  # EVENT_JOB_MISSED + max-instances skips + coalesced (skipped) runs
    max_instances: int
    coalesced: int
    job_errors: int
    tick_errors: int  # ticks that reported an error (audited, never raised)
    cpu_s: float
    cpu_pct: float  # of one core, over the window
    rss_mb: float
    peak_rss_mb: float
    venue_calls: int
    calls_per_tick: float
    calls_by_method: dict[str, int]
    served: int  # ticks run inside the window, whenever they were scheduled
    database: str = "SQLite"
    db_workers: int = 1  # the service's database worker threads (guard.service.db_thread)
    journal: bool = False  # an outage journal configured (the production set-up)


class BenchRunner(Runner):
    """The real Runner, with every account's gateway behind a latency injector and each job's
    actual start recorded against its scheduled time."""

    latency: float = 0.05

    def _runtimes(self, config: GuardConfig) -> dict[str, AccountRuntime]:
        runtimes = super()._runtimes(config)
        for runtime in runtimes.values():
            runtime.gateway = FaultyGateway(runtime.gateway, latency=self.latency)  # type: ignore[assignment]
        return runtimes

    def attach(self, probe: Probe) -> None:
        self.probe = probe

    async def _job(self, name: str) -> None:
        self.probe.started(name)
        await super()._job(name)


class Probe:
    """Scheduler listener + job wrapper: scheduled time → actual start, misses, errors."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.window_start = float("inf")
        self.window_end = float("inf")
        self.pending: dict[str, deque[float]] = defaultdict(deque)
        self.last_scheduled: dict[str, float] = {}
        self.lags: list[float] = []
        self.counts: Counter[str] = Counter()

    def in_window(self, moment: float) -> bool:
        return self.window_start <= moment < self.window_end

    def listen(self, event: JobEvent) -> None:
        if not event.job_id.startswith("tick:"):
            return
        name = event.job_id.removeprefix("tick:")
        if isinstance(event, JobSubmissionEvent):
            # APScheduler sends its max-instances skip as a JobSubmissionEvent too: that run
            # time is used up (not coalesced later) but never starts, so it is not queued (a
            # queued skip offset every later lag of the account by one interval and hid the skip)
            scheduled = event.scheduled_run_times[-1].timestamp()
            previous = self.last_scheduled.get(name)
            if previous is not None and self.in_window(scheduled):
                skipped = round((scheduled - previous) / self.interval) - 1
                self.counts["coalesced"] += max(0, skipped)
            self.last_scheduled[name] = scheduled
            if event.code == EVENT_JOB_SUBMITTED:
                self.pending[name].append(scheduled)
            elif event.code == EVENT_JOB_MAX_INSTANCES and self.in_window(scheduled):
                self.counts["max_instances"] += 1
        elif event.code == EVENT_JOB_MISSED and self.in_window(time.time()):
            self.counts["missed"] += 1
        elif event.code == EVENT_JOB_ERROR:
            self.counts["job_errors"] += 1

    def started(self, name: str) -> None:
        now = time.time()
        queue = self.pending[name]
        scheduled = queue.popleft() if queue else now
        if self.in_window(scheduled):
            self.lags.append(now - scheduled)
            self.counts["ticks"] += 1


def write_config(
    folder: Path,
    accounts: int,
    interval: float,
    policy: Path,
    database_url: str | None = None,
    db_workers: int | None = None,
    journal: bool = False,
) -> Path:
    """A guard.yaml with `accounts` paper accounts (the built-in crash scenario in real time,
    seeds varied, starting in its calm first hour) on `database_url` or a SQLite file in
    `folder`; `db_workers`: service.database_workers (None: the default); `journal`: an outage
    journal in `folder` (service.journal, as in production)."""
    config: dict[str, Any] = {
        "version": 1,
        "service": {
            "database_url": database_url or f"sqlite:///{folder / 'bench.db'}",
            "create_schema": True,
            "staleness": "2m",
            "housekeeping": "30s",
            "alerts": {"urls": []},
            **({} if db_workers is None else {"database_workers": db_workers}),
            **({"journal": str(folder / "guard.journal.jsonl")} if journal else {}),
        },
        "accounts": [
            {
                "name": f"acct-{index:05d}",
                "venue": "paper",
                "scenario": "crash",
                "seed": index % 97,
                "speed": 1,
                "start": f"{index % 20}m",
                "policies": [str(policy.resolve())],
                "poll_interval": f"{interval:g}s",
            }
            for index in range(accounts)
        ],
    }
    path = folder / "guard.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


async def _drive(runner: BenchRunner, probe: Probe, warmup: float, duration: float) -> float:
    task = asyncio.ensure_future(runner.run())
    while not runner.scheduler.running:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    runner.scheduler.add_listener(
        probe.listen,
        EVENT_JOB_SUBMITTED | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_ERROR,
    )
    await asyncio.sleep(warmup)
    probe.window_start = time.time()
    probe.window_end = probe.window_start + duration
    await asyncio.sleep(duration)
    runner.request_stop()
    await task
    return probe.window_start


def measure_ticks(
    folder: Path,
    accounts: int,
    *,
    interval: float = 5.0,
    duration: float = 30.0,
    warmup: float | None = None,
    latency: float = 0.05,
    policy: Path,
    log_file: Path | None = None,
    database_url: str | None = None,
    db_workers: int | None = None,
    journal: bool = False,
) -> TickResult:
    """Run the real service for `warmup` + `duration` seconds and measure the window (on
    `database_url`, else a SQLite file in `folder`)."""
    folder.mkdir(parents=True, exist_ok=True)
    config = write_config(folder, accounts, interval, policy, database_url, db_workers, journal)
    cleanup = ExitStack()  # the log file closes and the previous log set-up returns at the end
    log = cleanup.enter_context((log_file or folder / "guard.log").open("w", encoding="utf-8"))
    cleanup.enter_context(logging_to(log))
    # a job skipped at max_instances is counted by the probe; APScheduler's own warning per
    # skip would flood the terminal
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    BenchRunner.latency = latency
    probe = Probe(interval)
    try:
        began = time.perf_counter()
        runner = BenchRunner(config, install_signals=False)
        setup = time.perf_counter() - began
        runner.attach(probe)
        gateways = [r.gateway for r in runner.service.accounts.values()]
        warm = interval * 2 if warmup is None else warmup
        cpu_before = [0.0]
        calls_before: Counter[str] = Counter()
        ticks_before = [0]
        wall = [0.0]

        async def main() -> None:
            task = asyncio.ensure_future(_drive(runner, probe, warm, duration))
            while probe.window_start == float("inf"):
                if task.done():
                    break
                await asyncio.sleep(0.01)
            cpu_before[0] = cpu_seconds()
            wall[0] = time.monotonic()
            for gateway in gateways:
                assert isinstance(gateway, FaultyGateway)
                calls_before.update(gateway.calls)
            ticks_before[0] = sum(runner.service.tick_counts.values())
            await asyncio.sleep(duration)
            cpu_before.append(cpu_seconds())
            wall.append(time.monotonic())  # a saturated loop wakes late: the real window
            after: Counter[str] = Counter()
            for gateway in gateways:
                assert isinstance(gateway, FaultyGateway)
                after.update(gateway.calls)
            calls_before.subtract(after)
            ticks_before.append(sum(runner.service.tick_counts.values()))
            await task

        asyncio.run(main())
    except ConfigError as error:
        raise RuntimeError(f"benchmark config invalid: {error}") from error
    finally:
        cleanup.close()
    cpu = cpu_before[1] - cpu_before[0]
    calls = {method: -count for method, count in calls_before.items() if count}
    served = ticks_before[1] - ticks_before[0]
    elapsed = wall[1] - wall[0]
    venue_calls = sum(calls.values())
    ticks = probe.counts["ticks"]
    missed = probe.counts["missed"] + probe.counts["max_instances"] + probe.counts["coalesced"]
    return TickResult(
        accounts=accounts,
        interval_s=interval,
        duration_s=duration,
        setup_s=setup,
        ticks=ticks,
        ticks_per_s=served / elapsed,
        expected_ticks=int(accounts * (duration // interval)),
        lag_p50_ms=percentile(probe.lags, 0.50) * 1000,
        lag_p99_ms=percentile(probe.lags, 0.99) * 1000,
        lag_max_ms=max(probe.lags, default=0.0) * 1000,
        missed=missed,
        max_instances=probe.counts["max_instances"],
        coalesced=probe.counts["coalesced"],
        job_errors=probe.counts["job_errors"],
        tick_errors=_tick_errors(runner),
        cpu_s=cpu,
        cpu_pct=100 * cpu / elapsed,
        rss_mb=rss_mb(),
        peak_rss_mb=peak_rss_mb(),
        venue_calls=venue_calls,
        calls_per_tick=venue_calls / served if served else 0.0,
        served=served,
        calls_by_method=calls,
        database="SQLite" if database_url is None else "PostgreSQL",
        db_workers=runner.service.db.workers,
        journal=runner.config.service.journal is not None,
    )


def _tick_errors(runner: Runner) -> int:
    return runner.store.count_events(kind=EventKind.ERROR.value)
