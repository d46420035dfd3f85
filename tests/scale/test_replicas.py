"""Scale-out end to end: three `guard run` replicas on one PostgreSQL share 300 paper accounts
through leases. Every account ticks, no account ticks on two replicas at once, and after one
replica is SIGKILLed its accounts are ticked by the survivors within two poll intervals."""

from __future__ import annotations

import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from guard.core.audit import EventKind
from guard.store import Store
from guard.store.lease_queries import TickSpan, leases, tick_spans
from tests.conftest import _reset_postgres
from tests.service.helpers import POLICY

ACCOUNTS = 300
REPLICAS = 3
# Three replicas tick 300 accounts on two shared cores: at 8 s the survivors of a kill still have
# CPU to spare for the taken-over ticks (at 2-4 s those queue behind the survivors' own ticks).
# The lease ttl defaults to 3/4 of the poll interval, the renewal to a quarter of the ttl.
POLL = timedelta(seconds=8)
TTL = POLL * 3 / 4
RENEW = TTL / 4
SLACK = 1


def _config(url: str) -> str:
    lines = [
        "version: 1",
        "service:",
        f"  database_url: {url}",
        "  create_schema: false",
        "  housekeeping: 1h",
        "  staleness: 10m",
        "  leases:",
        "    enabled: true",
        f"    slack: {SLACK}",
        "    record_ticks: true",
        "accounts:",
    ]
    for index in range(ACCOUNTS):
        lines += [
            f"  - name: acct{index:03d}",
            "    venue: paper",
            "    scenario: crash",  # its first 45 minutes are calm: no order is needed
            "    speed: 1",
            f"    policies: [{POLICY}]",
            f"    poll_interval: {POLL.total_seconds()}s",
        ]
    return "\n".join(lines) + "\n"


def _wait(what: str, check: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise AssertionError(f"{what}: not within {seconds:.0f} s")


def _overlaps(spans: list[TickSpan]) -> list[tuple[TickSpan, TickSpan]]:
    """Pairs of ticks of the same account whose [started, ended] intervals intersect."""
    found = []
    by_account: dict[str, list[TickSpan]] = {}
    for span in spans:
        by_account.setdefault(span.account, []).append(span)
    for ticks in by_account.values():
        ticks.sort(key=lambda s: s.started_at)
        latest = ticks[0]
        for span in ticks[1:]:
            if span.started_at < latest.ended_at:
                found.append((latest, span))
            if span.ended_at > latest.ended_at:
                latest = span
    return found


def test_overlaps_when_intervals_intersect_then_reported() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    s = timedelta(seconds=1)
    spans = [
        TickSpan("x", "a", 1, at, at + 2 * s),
        TickSpan("x", "b", 2, at + s, at + 3 * s),  # starts before a's tick ended
        TickSpan("x", "b", 2, at + 3 * s, at + 4 * s),  # touching is not overlapping
        TickSpan("y", "a", 1, at + s, at + 2 * s),
    ]
    assert _overlaps(spans) == [(spans[0], spans[1])]


@pytest.mark.postgres
@pytest.mark.slow
def test_replicas_when_three_share_300_accounts_and_one_is_killed_then_exclusive_and_taken_over(
    postgres_url: str, tmp_path: Path
) -> None:
    _reset_postgres(postgres_url)
    store = Store(postgres_url)
    store.upgrade()  # as in production: `guard db upgrade` once, then the replicas
    config = tmp_path / "guard.yaml"
    config.write_text(_config(postgres_url))
    guard = Path(sys.executable).parent / "guard"
    replicas: dict[str, subprocess.Popen[bytes]] = {}
    logs: dict[str, Path] = {}
    host = socket.gethostname()
    try:
        for index in range(REPLICAS):
            with open(tmp_path / f"replica{index}.log", "wb") as out:
                process = subprocess.Popen(
                    [str(guard), "run", "--config", str(config)],
                    cwd=tmp_path,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            replicas[f"{host}-{process.pid}"[:120]] = process
            logs[f"{host}-{process.pid}"[:120]] = tmp_path / f"replica{index}.log"
        share = math.ceil(ACCOUNTS / REPLICAS) + SLACK

        def balanced() -> bool:
            held = Counter(lease.holder for lease in leases(store) if lease.holder)
            ticked = {span.account for span in tick_spans(store)}
            return (
                set(held) == set(replicas)
                and sum(held.values()) == ACCOUNTS
                and max(held.values()) <= share
                and len(ticked) == ACCOUNTS
            )

        _wait("three replicas holding every lease fairly, every account ticked", balanced, 60)
        for name, process in replicas.items():
            assert process.poll() is None, f"replica {name} exited early"

        victim = sorted(replicas)[0]
        tokens = {lease.account: lease.token for lease in leases(store)}
        orphans = sorted(lease.account for lease in leases(store) if lease.holder == victim)
        assert 0 < len(orphans) <= share
        killed_at = datetime.now(UTC)
        replicas[victim].send_signal(signal.SIGKILL)
        replicas[victim].wait(10)

        def taken_over() -> bool:
            after = {
                s.account
                for s in tick_spans(store)
                if s.replica != victim and s.started_at >= killed_at
            }
            return set(orphans) <= after

        _wait("the survivors ticking every account of the killed replica", taken_over, 30)
        for name, process in replicas.items():
            if name != victim:
                process.send_signal(signal.SIGTERM)
        for name, process in replicas.items():
            if name != victim:
                assert process.wait(30) == 0, logs[name].read_text()[-2000:]

        spans = tick_spans(store)
        assert {s.account for s in spans} == {f"acct{i:03d}" for i in range(ACCOUNTS)}
        assert {s.replica for s in spans} == set(replicas)
        assert _overlaps(spans) == [], "an account ticked on two replicas at once"
        lags = {
            account: min(
                s.started_at - killed_at
                for s in spans
                if s.account == account and s.replica != victim and s.started_at >= killed_at
            )
            for account in orphans
        }
        worst = max(lags.values())
        assert worst <= 2 * POLL, f"takeover took {worst} (> 2 poll intervals)"
        acquired = store.tail(10_000, kind=EventKind.LEASE_ACQUIRED.value)
        takeovers = [e for e in acquired if f"taken over from {victim}" in e.message]
        assert sorted(e.account or "" for e in takeovers) == orphans
        # the lease part alone: expiry (ttl) plus at most one heartbeat and a late one
        slowest = max(e.at for e in takeovers) - killed_at
        assert slowest <= TTL + 2 * RENEW, f"leases taken over only {slowest} after the kill"
        for span in spans:  # a newer token on an orphan exists only after the kill
            if span.account in lags and span.token > tokens[span.account]:
                assert span.replica != victim and span.started_at >= killed_at
        ok, _, why = store.verify_chain()
        assert ok, why
        print(
            f"{len(spans)} ticks by {REPLICAS} replicas; {len(orphans)} accounts taken over "
            f"from {victim}: leases {slowest.total_seconds():.2f}s, first ticks within "
            f"{worst.total_seconds():.2f}s after the kill"
        )
    finally:
        for process in replicas.values():
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(10)
        store.dispose()
