"""The benchmark's 1,000-account verdict is computed from the figures: a run that served almost
no ticks inside its window (a saturated process) is NOT met, whatever its lag says."""

from __future__ import annotations

from dataclasses import replace

from guard.lab.bench.outside import OutsideRun
from guard.lab.bench.report import Run, keeps_up, verdicts
from guard.lab.bench.ticks import TickResult


def _run(served: int, expected: int, lag_p99: float = 0.0, missed: int = 0) -> TickResult:
    return TickResult(
        accounts=1000, interval_s=5.0, duration_s=10.0, setup_s=1.0, ticks=served,
        ticks_per_s=served / 10, expected_ticks=expected, lag_p50_ms=0.0, lag_p99_ms=lag_p99,
        lag_max_ms=lag_p99, missed=missed, max_instances=0, coalesced=0, job_errors=0,
        tick_errors=0, cpu_s=1.0, cpu_pct=50.0, rss_mb=1.0, peak_rss_mb=1.0, venue_calls=served,
        calls_per_tick=1.0, calls_by_method={}, served=served,
    )  # fmt: skip


def test_keeps_up_when_every_tick_served_in_time_then_met() -> None:
    assert keeps_up(_run(2000, 2000, lag_p99=120.0))


def test_keeps_up_when_no_tick_served_then_not_met_despite_zero_lag() -> None:
    assert not keeps_up(_run(0, 2000))


def test_keeps_up_when_lag_or_missed_over_target_then_not_met() -> None:
    assert not keeps_up(_run(2000, 2000, lag_p99=600.0))
    assert not keeps_up(_run(2000, 2000, missed=3))


def _outside(cpu_ms: float, rows: float) -> list[tuple[str, str, str]]:
    run = Run(
        machine={}, command="", quick=True, latency=(), ticks=(), replay=None, profile=None,
        tick_policy="", load_after="", latency_s=0.0,
        outside=(OutsideRun(200, 2.0, 20.0, 2000, cpu_ms, rows, 350.0, 200.0),),
    )  # fmt: skip
    return [row for row in verdicts(run) if row[0].startswith("`guard run`")]


def test_verdicts_when_guard_run_cpu_or_rows_over_target_then_not_met() -> None:
    assert _outside(1.9, 0.0)[0][2] == "met"
    assert _outside(2.1, 0.0)[0][2] == "NOT met"
    assert _outside(1.9, 0.5)[0][2] == "NOT met"


def test_verdicts_when_postgres_runs_with_db_threads_then_each_run_says_how_many() -> None:
    one = replace(_run(2000, 2000), accounts=2000, database="PostgreSQL", db_workers=1)
    four = replace(one, db_workers=4)
    run = Run(
        machine={}, command="", quick=True, latency=(), ticks=(one, four), replay=None,
        profile=None, tick_policy="", load_after="", latency_s=0.0,
    )  # fmt: skip
    row = next(r for r in verdicts(run) if r[0].startswith(">= 2,000 accounts"))
    assert row[1].startswith("2,000: p99 0 ms") and "; 2,000 (4 db threads): p99 0 ms" in row[1]
