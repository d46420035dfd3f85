"""Where a service tick spends its time: cProfile around a tick run, cumulative time of the
tick's parts as shares of GuardService.tick (measured, for docs/benchmarks.md)."""

from __future__ import annotations

import cProfile
import pstats
from dataclasses import dataclass
from pathlib import Path

from guard.lab.bench.ticks import measure_ticks

# (part, file suffix(es), function names): cumulative times summed per part
PARTS: tuple[tuple[str, str | tuple[str, ...], tuple[str, ...]], ...] = (
    (
        "store (SQLite reads + writes, awaited)",
        (
            "guard/store/audit_chain.py",
            "guard/store/tick_io.py",
            "guard/store/locks.py",
            "guard/store/rule_state.py",
            "guard/store/intents.py",
            "guard/store/operator_requests.py",
        ),
        (
            "record_tick",
            "read_tick",
            "load_state",
            "unresolved_intents",
            "pending_requests",
            "locks",
            "audit",
            "complete_request",
        ),
    ),
    (
        "venue (paper simulator + injected latency bookkeeping)",
        "gateway/faults.py",
        ("fetch_snapshot",),
    ),
    ("evaluate (engine, all rules)", "guard/core/engine.py", ("evaluate",)),
    ("plan", "guard/core/planner.py", ("plan",)),
    ("log line + metrics", "guard/service/alerts.py", ("_observe",)),
)


@dataclass(frozen=True, slots=True)
class TickProfile:
    accounts: int
    ticks: int
    tick_ms: float  # mean profiled time inside GuardService.tick (excluding awaited sleeps)
    shares: tuple[tuple[str, float], ...]  # part -> fraction of tick time


def profile_ticks(
    folder: Path,
    accounts: int,
    *,
    duration: float,
    interval: float,
    latency: float,
    policy: Path,
) -> TickProfile:
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        measure_ticks(
            folder,
            accounts,
            duration=duration,
            interval=interval,
            warmup=min(5.0, 2 * interval),
            latency=latency,
            policy=policy,
        )
    finally:
        profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    tick_time = 0.0
    ticks = 0
    sums = {part: 0.0 for part, _, _ in PARTS}
    for (filename, _line, name), (_cc, calls, _tt, cumulative, _callers) in stats.items():
        path = filename.replace("\\", "/")
        if path.endswith("guard/service/tick.py") and name == "tick":
            tick_time += cumulative
            ticks += calls
        for part, suffix, names in PARTS:
            if path.endswith(suffix) and name in names:
                sums[part] += cumulative
    shares = tuple((part, sums[part] / tick_time if tick_time else 0.0) for part, _, _ in PARTS)
    return TickProfile(accounts, ticks, 1000 * tick_time / ticks if ticks else 0.0, shares)
