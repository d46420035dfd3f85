"""Health is never green while an account is not guarded: the 'no successful tick' bound follows
each account's poll interval (two intervals plus a second of scheduling slack)."""

from __future__ import annotations

from guard.service.metrics import Health


def test_status_when_last_tick_older_than_two_intervals_then_degraded_naming_interval() -> None:
    now = [100.0]
    health = Health(clock=lambda: now[0])
    health.intervals["a"] = 5.0
    health.succeeded("a")
    now[0] += 10.9
    assert health.status() == (True, [])
    now[0] += 0.2  # 11.1 s: past 2 × 5 s + 1 s
    ok, reasons = health.status()
    assert not ok
    assert reasons == ["a: no successful tick for 11.1s (poll interval 5s): not guarding"]


def test_status_when_interval_long_then_bound_scales_with_it() -> None:
    now = [0.0]
    health = Health(clock=lambda: now[0])
    health.intervals["slow"] = 60.0
    health.succeeded("slow")
    now[0] = 100.0
    assert health.status()[0]
    now[0] = 122.0
    assert not health.status()[0]
