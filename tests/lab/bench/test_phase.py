"""The runner's phase offsets: stable, inside the interval, and spread evenly enough that many
accounts at one poll interval do not tick in one burst."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from guard.service.tick_jobs import phase_offset

INTERVAL = timedelta(seconds=5)


@settings(max_examples=50)
@given(st.text(min_size=1, max_size=40), st.integers(min_value=1, max_value=3600))
def test_offset_when_any_name_then_stable_and_within_interval(name: str, seconds: int) -> None:
    interval = timedelta(seconds=seconds)
    offset = phase_offset(name, interval)
    assert timedelta(0) <= offset < interval
    assert offset == phase_offset(name, interval)


def test_offsets_when_1000_accounts_then_no_tenth_of_interval_gets_twice_its_share() -> None:
    buckets = Counter(
        int(phase_offset(f"acct-{i:05d}", INTERVAL) / INTERVAL * 10) for i in range(1000)
    )
    assert len(buckets) == 10
    assert max(buckets.values()) < 2 * 100
