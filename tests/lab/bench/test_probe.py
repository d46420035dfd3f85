"""The tick bench's probe: scheduled time → actual start, skips counted (APScheduler 3 events)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from apscheduler.events import (
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_SUBMITTED,
    JobSubmissionEvent,
)

from guard.lab.bench.ticks import Probe


def _event(code: int, at: float) -> JobSubmissionEvent:
    return JobSubmissionEvent(code, "tick:a", "default", [datetime.fromtimestamp(at, UTC)])


def test_probe_when_a_run_is_skipped_at_max_instances_then_counted_and_later_lags_not_offset() -> (
    None
):
    probe = Probe(5.0)
    now = time.time()
    probe.window_start, probe.window_end = now - 60, now + 60
    probe.listen(_event(EVENT_JOB_SUBMITTED, now - 10))
    probe.started("a")
    probe.listen(_event(EVENT_JOB_MAX_INSTANCES, now - 5))  # the first run still running
    probe.listen(_event(EVENT_JOB_SUBMITTED, now))
    probe.started("a")
    assert probe.counts["max_instances"] == 1
    assert probe.lags[-1] < 1.0  # measured against its own scheduled time, not the skipped one


def test_probe_when_a_run_was_skipped_before_the_window_then_the_next_run_is_not_counted_coalesced() -> (
    None
):
    probe = Probe(5.0)
    now = time.time()
    probe.window_start, probe.window_end = now - 1, now + 60
    probe.listen(_event(EVENT_JOB_SUBMITTED, now - 10))
    probe.started("a")
    probe.listen(_event(EVENT_JOB_MAX_INSTANCES, now - 5))  # before the window
    probe.listen(_event(EVENT_JOB_SUBMITTED, now))
    probe.started("a")
    assert probe.counts["max_instances"] == 0 and probe.counts["coalesced"] == 0
    assert probe.counts["ticks"] == 1
