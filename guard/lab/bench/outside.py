"""(g) `guard run` seen from outside: the real command in its own process (scheduler, paper venues,
database thread, JSON log lines on stdout into a file), N calm paper accounts on SQLite; its CPU
from /proc over a window after a warm-up, ticks counted from its canonical tick lines, audit rows
from its database. Measures, for docs/benchmarks.md (Linux: /proc)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from guard.lab.bench.ticks import write_config

TICK_LINE = '"event": "tick"'
ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True, slots=True)
class OutsideRun:
    accounts: int
    interval_s: float
    window_s: float
    ticks: int  # canonical tick lines written inside the window
    cpu_ms: float  # the process's user + system CPU per tick, every thread
    audit_rows_per_tick: float
    log_bytes_per_tick: float
    rss_mb: float


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far (every thread), from /proc."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _ticks(log: Path) -> tuple[int, int]:
    """(tick lines, bytes) of the log so far (whole lines only)."""
    data = log.read_bytes()
    data = data[: data.rfind(b"\n") + 1]
    return data.count(TICK_LINE.encode()), len(data)


def _audit_rows(database: Path) -> int:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30) as conn:
        return int(conn.execute("SELECT count(*) FROM audit_events").fetchone()[0])


def measure_outside(
    folder: Path,
    accounts: int,
    *,
    interval: float,
    duration: float,
    warmup: float,
    policy: Path,
) -> OutsideRun:
    """Start `guard run` on `accounts` calm paper accounts (SQLite in `folder`), wait `warmup`
    seconds after its first tick line, then measure `duration` seconds; SIGTERM after."""
    folder.mkdir(parents=True, exist_ok=True)
    config = write_config(folder, accounts, interval, policy)
    log = folder / "guard-run.log"
    command = [sys.executable, "-c", "from guard.operator.cli import main; main()"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "run", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,  # `python -c` imports the guard package of this checkout first
        )
    try:
        deadline = time.monotonic() + 120
        while _ticks(log)[0] == 0:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"guard run did not tick; see {log}")
            time.sleep(0.2)
        time.sleep(warmup)
        ticks0, bytes0 = _ticks(log)
        cpu0, rows0, began = process_cpu(process.pid), _audit_rows(folder / "bench.db"), time.time()
        time.sleep(duration)
        ticks1, bytes1 = _ticks(log)
        cpu1, rows1, ended = process_cpu(process.pid), _audit_rows(folder / "bench.db"), time.time()
        rss = _rss_mb(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    ticks = ticks1 - ticks0
    if ticks <= 0:
        raise RuntimeError(f"guard run wrote no tick line in the window; see {log}")
    return OutsideRun(
        accounts=accounts,
        interval_s=interval,
        window_s=ended - began,
        ticks=ticks,
        cpu_ms=1000 * (cpu1 - cpu0) / ticks,
        audit_rows_per_tick=(rows1 - rows0) / ticks,
        log_bytes_per_tick=(bytes1 - bytes0) / ticks,
        rss_mb=rss,
    )


def outside_section(runs: Sequence[OutsideRun]) -> list[str]:
    """The markdown lines of section (g) (none when it did not run)."""
    if not runs:
        return []
    out = [
        "",
        "## (g) `guard run` seen from outside",
        "",
        "The real command in its own process (`guard.lab.bench.outside`): scheduler, paper"
        " venues, database thread and JSON log lines (to a file), N calm paper accounts on"
        " SQLite, no injected latency. CPU = the process's user + system time (/proc) over the"
        " window after a warm-up; ticks = its canonical tick lines in the window; audit rows"
        " from its database.",
        "",
        "| accounts | interval | window | ticks | process CPU/tick | audit rows/tick |"
        " log bytes/tick | RSS |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    out += [
        f"| {o.accounts:,} | {o.interval_s:g} s | {o.window_s:.0f} s | {o.ticks:,} |"
        f" {o.cpu_ms:.2f} ms | {o.audit_rows_per_tick:.3f} | {o.log_bytes_per_tick:,.0f} |"
        f" {o.rss_mb:.0f} MiB |"
        for o in runs
    ]
    return out
