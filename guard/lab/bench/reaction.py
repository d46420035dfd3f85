"""Benchmark (h): reaction time, from the lab's price crossing a band to the lab seeing the
reduce-only order arrive, for N Binance accounts on the venue lab with injected venue latency:
woken by the lab's streams, or polled every 1 s / 5 s (phases spread as the runner spreads them).
Not pure (sockets, clocks, a SQLite database per run)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from guard.gateway.ccxt.streams import StreamSettings, StreamState
from guard.gateway.paper.scenarios import crash
from guard.lab.bench.stats import percentile
from guard.lab.venue_lab import LabAccount, VenueLab, build_lab
from guard.lab.venue_lab.faults import Fault, FaultKind
from guard.lab.venue_lab.stream_drive import StreamRig, price_ladder, stream_rig
from guard.service.tick_jobs import phase_offset
from guard.store import Store

SECRET = "bench-secret-0123456789abcdef"
SYMBOL = "BTC/USDT:USDT"
SECTION = "## (h) Reaction time: streams vs polling"


@dataclass(frozen=True, slots=True)
class ReactionResult:
    mode: str  # "streams", "poll 1s", "poll 5s"
    accounts: int
    latency_ms: float  # injected per REST answer
    reacted: int  # accounts whose order the lab saw
    p50_ms: float
    p99_ms: float
    max_ms: float
    setup_s: float  # connecting the streams / warming the polls (not measured)
    requests_per_tick: float  # REST requests the lab served per tick while measured
    max_concurrent: int  # the shared gateway's requests in flight


def _lab(accounts: int) -> tuple[VenueLab, dict[str, dict[str, str]]]:
    lab_accounts = [
        LabAccount("binance", f"bench-key-{i}", f"acct-{i:04d}", secret=SECRET)
        for i in range(accounts)
    ]
    lab = build_lab(crash(), lab_accounts, venues=["binance"], budgets={})
    creds = {a.paper: {"apiKey": a.key, "secret": SECRET} for a in lab_accounts}
    return lab, creds


def _crossing(lab: VenueLab, trigger: Decimal) -> Any:
    """The first moment (30 s steps) at which the path's BTC mark is below `trigger`."""
    path, moment = lab.book.paper.path, lab.book.now()
    while path.price(SYMBOL, moment) >= trigger:
        moment += timedelta(seconds=30)
        if moment > path.end:
            raise RuntimeError(f"{SYMBOL} never falls below {trigger} on the crash path")
    return moment


class _Timed(list[Any]):
    """An order list that notes when (monotonic) its first order arrived."""

    def __init__(self, items: Any, seen: dict[str, float], account: str) -> None:
        super().__init__(items)
        self.seen, self.account = seen, account

    def append(self, item: Any) -> None:
        self.seen.setdefault(self.account, time.monotonic())
        super().append(item)


class _Arrivals(dict[tuple[str, str], Any]):
    """The lab book's orders, timing each account's first new order as the book records it."""

    def __init__(self, orders: dict[tuple[str, str], Any]) -> None:
        super().__init__(orders)
        self.seen: dict[str, float] = {}

    def setdefault(self, key: tuple[str, str], default: Any = None) -> Any:
        if key not in self:
            self[key] = []
        if not isinstance(self[key], _Timed):
            self[key] = _Timed(self[key], self.seen, key[1])
        return self[key]


def _arrivals(lab: VenueLab) -> dict[str, float]:
    """When (monotonic) the lab's book recorded each paper account's first order from now."""
    timed = _Arrivals(lab.book.orders)
    lab.book.orders = timed
    return timed.seen


async def _run(
    work: Path,
    accounts: int,
    latency: float,
    interval: float | None,
    timeout: float,
    max_concurrent: int,
) -> ReactionResult:
    lab, creds = _lab(accounts)
    await lab.start()
    lab.arm(Fault(FaultKind.LATENCY, venue="binance", times=10**9, seconds=latency))
    trigger = (lab.book.mark(SYMBOL) * Decimal("0.97")).quantize(Decimal(1))
    crossing = _crossing(lab, trigger)
    work.mkdir(parents=True, exist_ok=True)
    for old in work.glob("guard.db*"):  # a reused folder: no rule memory from an earlier run
        old.unlink()
    store = Store(f"sqlite:///{work / 'guard.db'}")
    store.create_schema()
    settings = StreamSettings(silence=timedelta(seconds=60), staleness=timedelta(minutes=10))
    began = time.monotonic()
    rig = await stream_rig(
        lab,
        "binance",
        creds,
        price_ladder("BTC/*", trigger),
        store,
        settings,
        streams=interval is None,
        max_concurrent=max_concurrent,
    )
    polls: list[asyncio.Task[None]] = []
    try:
        names = list(creds)
        if interval is None:
            await asyncio.gather(*(rig.tick(n) for n in names))  # the first poll: facts
            # steady state: every account's user stream and the shared mark stream are open at
            # the lab (a move during the set-up is the open question in docs/streams.md)
            await _until(
                lambda: rig.state is StreamState.CONNECTED and len(lab.streams.open) > accounts,
                timeout * 4,
            )
        else:
            start = time.monotonic()
            polls = [asyncio.create_task(_poll(rig, n, interval, start)) for n in names]
            await asyncio.sleep(interval * 1.5)  # every account has polled at least once
        setup = time.monotonic() - began
        seen = _arrivals(lab)
        requests, ticks = len(lab.requests), len(rig.reports)
        moved = time.monotonic()
        lab.book.advance_to(crossing)
        deadline = moved + timeout + (interval or 0)
        while len(seen) < accounts and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        requests, ticks = len(lab.requests) - requests, len(rig.reports) - ticks
    finally:
        for task in polls:
            task.cancel()
        await asyncio.gather(*polls, return_exceptions=True)
        await rig.close()
        await lab.stop()
        store.dispose()
    times = [1000 * (at - moved) for at in seen.values()]
    mode = "streams" if interval is None else f"poll {interval:g}s"
    return ReactionResult(
        mode,
        accounts,
        1000 * latency,
        len(times),
        percentile(times, 0.5),
        percentile(times, 0.99),
        max(times, default=0.0),
        setup,
        requests / ticks if ticks else 0.0,
        max_concurrent,
    )


async def _poll(rig: StreamRig, name: str, interval: float, start: float) -> None:
    due = start + phase_offset(name, timedelta(seconds=interval)).total_seconds()
    while True:
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        await rig.tick(name)
        due += interval
        while due < time.monotonic():  # a missed run is skipped (APScheduler's coalesce)
            due += interval


async def _until(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("streams did not connect")
        await asyncio.sleep(0.01)


def measure_reaction(
    work: Path,
    accounts: int,
    *,
    latency: float,
    intervals: Sequence[float] = (1.0, 5.0),
    timeout: float = 30.0,
    max_concurrent: Sequence[int] = (4,),
) -> list[ReactionResult]:
    """Streams, then each poll interval, each on a fresh lab and database; streams again for
    every further gateway size in `max_concurrent` (the first is the default budget)."""
    first, *more = max_concurrent
    runs: list[tuple[str, float | None, int]] = [("streams", None, first)]
    runs += [(f"poll-{i:g}", i, first) for i in intervals]
    runs += [(f"streams-{m}", None, m) for m in more]
    return [
        asyncio.run(_run(work / name, accounts, latency, interval, timeout, size))
        for name, interval, size in runs
    ]


def section(results: Sequence[ReactionResult], load: str) -> list[str]:
    """The markdown of section (h)."""
    rows = [
        SECTION,
        "",
        "A BTC mark-price band is crossed on the lab's path (one `advance_to`); the time is taken"
        " from that move to the moment the lab's book sees each account's reduce-only order"
        " arrive. Every REST answer is delayed by the injected latency (the lab acts at once,"
        " answers late); the websocket pushes are not delayed. All accounts share one gateway"
        " (one request budget) as `guard run` builds them. Target (issue 20): streams at p99"
        " within one venue round trip + 100 ms.",
        "",
        "| mode | accounts | latency | gateway in flight | orders seen | p50 | p99 | max |"
        " REST requests per tick | p99 target |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    rows += [
        f"| {r.mode} | {r.accounts} | {r.latency_ms:.0f} ms | {r.max_concurrent} |"
        f" {r.reacted} | {r.p50_ms:.0f} ms | {r.p99_ms:.0f} ms | {r.max_ms:.0f} ms |"
        f" {r.requests_per_tick:.1f} | {_target(r)} |"
        for r in results
    ]
    rows += [
        "",
        f"Load average (1/5/15 min) after the runs: {load}. The machine is shared and loaded"
        " (2 cores): the lab, its websocket pushes and the guard run in one process and one"
        " event loop.",
        "",
        "What bounds the stream figure: every account is woken by the same move, and each woken"
        " tick reads the account from the venue again (the REST requests per tick above, awaited"
        " one after another in today's snapshot read) through the venue's one shared gateway"
        " (`gateway in flight` requests at a time, protective orders first), so the last of N"
        " accounts waits for about N x requests x latency / in-flight. The stream removes the"
        " poll's wait, not the tick's reads: concurrent snapshot reads (issue 14) and fewer"
        " reads per tick are what bring the p99 towards one round trip.",
        "",
    ]
    return rows


def _target(result: ReactionResult) -> str:
    if result.mode != "streams":
        return ""
    ok = result.reacted == result.accounts and result.p99_ms <= result.latency_ms + 100
    return f"{'met' if ok else 'NOT met'} (≤ {result.latency_ms + 100:.0f} ms)"


def splice(document: str, rows: Sequence[str]) -> str:
    """`document` with section (h) replaced (or appended when it has none)."""
    text = "\n".join(rows)
    if SECTION not in document:
        return document.rstrip("\n") + "\n\n" + text
    head, _, rest = document.partition(SECTION)
    following = rest.find("\n## ")
    tail = rest[following + 1 :] if following >= 0 else ""
    return head + text + ("\n" + tail if tail else "")
