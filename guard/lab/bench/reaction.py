"""Benchmark (h): reaction time, from the lab's price crossing a band to the guard sending the
reduce-only order (its create-order request handed to the socket) and to the lab seeing it arrive,
for N Binance accounts on the venue lab with injected venue latency:
woken by the lab's streams, or polled every 1 s / 5 s (phases spread as the runner spreads them).
Not pure (sockets, clocks, a SQLite database per run)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from guard.gateway.ccxt.streams import StreamSettings, StreamState
from guard.lab.bench.lab_process import LabProcess, credentials
from guard.lab.bench.stats import percentile
from guard.lab.venue_lab.stream_drive import StreamRig, price_ladder, stream_rig
from guard.service.tick_jobs import phase_offset
from guard.store import Store

SECTION = "## (h) Reaction time: streams vs polling"
# Binance weight of one account's reaction: positions 5 + account 5, re-read 5, order 1, shared
REACTION_WEIGHT = 20


@dataclass(frozen=True, slots=True)
class ReactionResult:
    mode: str  # "streams", "poll 1s", "poll 5s"
    accounts: int
    latency_ms: float  # injected per REST answer
    reacted: int  # accounts whose order the lab saw
    p50_ms: float  # move → the lab's receipt
    p99_ms: float
    max_ms: float
    woken_p99_ms: float  # move → the pre-check wakes the account's tick (streams)
    sent_p50_ms: float  # move → the guard hands the create-order request to the socket
    sent_p99_ms: float
    cpu_ms_per_account: float  # the guard process's CPU per account reacted (the lab apart)
    lab_cpu_ms_per_account: float  # the lab process's CPU, the same way
    setup_s: float  # connecting the streams / warming the polls (not measured)
    requests_per_tick: float  # REST requests the lab served per tick while measured
    max_concurrent: int  # the shared gateway's requests in flight
    budget: str  # the request budget: the venue's weight window, or ccxt's spacing
    budget_waits: int  # requests that waited for the weight window while measured
    advance_ms: float  # the lab's own time to move its book (not counted in the times)

    def describe(self) -> str:
        return (
            f"{self.mode} (gateway {self.max_concurrent}, {self.budget}): {self.reacted}/"
            f"{self.accounts} orders, woken p99 {self.woken_p99_ms:.0f} ms, sent p50 {self.sent_p50_ms:.0f} p99 {self.sent_p99_ms:.0f}"
            f" ms, received p50 {self.p50_ms:.0f} p99 {self.p99_ms:.0f} max {self.max_ms:.0f} ms,"
            f" {self.requests_per_tick:.1f} requests/tick, CPU {self.cpu_ms_per_account:.1f} ms/account"
            f" (lab {self.lab_cpu_ms_per_account:.1f}),"
            f" {self.budget_waits} budget waits, lab move {self.advance_ms:.0f} ms"
        )


async def _run(
    work: Path,
    accounts: int,
    latency: float,
    interval: float | None,
    timeout: float,
    max_concurrent: int | None,
) -> ReactionResult:
    lab = LabProcess(accounts, latency)  # the venue in its own process: the guard's CPU alone
    facts = await lab.start()
    creds = credentials(accounts)
    work.mkdir(parents=True, exist_ok=True)
    for old in work.glob("guard.db*"):  # a reused folder: no rule memory from an earlier run
        old.unlink()
    store = Store(f"sqlite:///{work / 'guard.db'}")
    store.create_schema()
    settings = StreamSettings(silence=timedelta(seconds=60), staleness=timedelta(minutes=10))
    began = time.monotonic()
    rig: StreamRig | None = None
    polls: list[asyncio.Task[None]] = []
    try:
        rig = await stream_rig(
            lab,
            "binance",
            creds,
            price_ladder("BTC/*", facts.trigger),
            store,
            settings,
            streams=interval is None,
            max_concurrent=max_concurrent,
        )
        names = list(creds)
        if interval is None:
            await asyncio.gather(*(rig.tick(n) for n in names))  # the first poll: facts
            # steady state: every account's user stream and the shared mark stream are open at
            # the lab (a move during the set-up is the open question in docs/streams.md)
            deadline = time.monotonic() + timeout * 4
            while not (rig.state is StreamState.CONNECTED and await lab.ask("streams") > accounts):
                if time.monotonic() > deadline:
                    raise TimeoutError("the streams did not all open")
                await asyncio.sleep(0.05)
            budget = rig.gateways[0].budget
            if budget is not None:  # and the window has room for every account's reaction
                room = (
                    budget.limits.weight * (1 - budget.limits.reserve) - REACTION_WEIGHT * accounts
                )
                await _until(
                    lambda: budget.used() <= max(0.0, room), budget.limits.window + timeout
                )
        else:
            start = time.monotonic()
            polls = [asyncio.create_task(_poll(rig, n, interval, start)) for n in names]
            await asyncio.sleep(interval * 1.5)  # every account has polled at least once
        setup = time.monotonic() - began
        sent = _sends(rig)
        woken = _wakes(rig)
        session = rig.gateways[0]
        waits = session.budget.waited if session.budget is not None else 0
        requests, ticks = await lab.ask("requests"), len(rig.reports)
        cpu = time.process_time()
        before, moved = await lab.move()  # the lab settles every account at the new prices
        advance = moved - before  # the venue's state has crossed: it may push from now
        seen, lab_cpu = await lab.ask("arrivals", (accounts, moved + timeout + (interval or 0)))
        cpu = time.process_time() - cpu
        coalescer = rig.coalescer
        with contextlib.suppress(TimeoutError):  # the woken ticks finish (recorded)
            await _until(lambda: not coalescer.tasks, 10)
        requests = await lab.ask("requests") - requests
        ticks = len(rig.reports) - ticks
        if session.budget is not None:
            waits = session.budget.waited - waits
    finally:
        for task in polls:
            task.cancel()
        await asyncio.gather(*polls, return_exceptions=True)
        if rig is not None:
            await rig.close()
        await lab.stop()
        store.dispose()
    times = [1000 * (at - moved) for at in seen.values()]
    sends = [1000 * (at - moved) for at in sent.values()]
    wakes = [1000 * (at - moved) for at in woken.values()]
    mode = "streams" if interval is None else f"poll {interval:g}s"
    return ReactionResult(
        mode,
        accounts,
        1000 * latency,
        len(times),
        percentile(times, 0.5),
        percentile(times, 0.99),
        max(times, default=0.0),
        percentile(wakes, 0.99),
        percentile(sends, 0.5),
        percentile(sends, 0.99),
        1000 * cpu / len(times) if times else 0.0,
        1000 * lab_cpu / len(times) if times else 0.0,
        setup,
        requests / ticks if ticks else 0.0,
        session.in_flight,
        "weight window" if session.budget is not None else "ccxt spacing",
        waits,
        1000 * advance,
    )


def _sends(rig: StreamRig) -> dict[str, float]:
    """When (monotonic) each account's first create-order request from now was handed to the
    socket: ccxt's `fetch` of the order endpoint, after the gate and the weight budget."""
    sent: dict[str, float] = {}
    for gateway in rig.gateways:
        for name in gateway.accounts:
            client = gateway.client(name)
            client.fetch = _timed_fetch(client.fetch, name, sent)
    return sent


def _wakes(rig: StreamRig) -> dict[str, float]:
    """When (monotonic) the pre-check first woke each account from now."""
    woken: dict[str, float] = {}
    wake = rig.waker.wake

    def timed(account: str, reason: str) -> None:
        woken.setdefault(account, time.monotonic())
        wake(account, reason)

    rig.waker.wake = timed
    return woken


def _timed_fetch(fetch: Any, name: str, sent: dict[str, float]) -> Any:
    async def timed(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        if method == "POST" and url.split("?")[0].endswith("/order"):
            sent.setdefault(name, time.monotonic())
        return await fetch(url, method, headers, body)

    return timed


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
            raise TimeoutError("the steady state was not reached")
        await asyncio.sleep(0.01)


def gates(raw: str) -> tuple[int | None, ...]:
    """`--reaction-gates`: comma-separated in-flight caps; `venue` for the venue's own budget."""
    values: list[int | None] = []
    for part in (p.strip() for p in raw.split(",") if p.strip()):
        if part == "venue":
            values.append(None)
        elif part.isdigit() and int(part) > 0:
            values.append(int(part))
        else:
            raise argparse.ArgumentTypeError(f"positive integers or 'venue', got {raw!r}")
    if not values:
        raise argparse.ArgumentTypeError(f"at least one value, got {raw!r}")
    return tuple(values)


def measure_reaction(
    work: Path,
    accounts: int,
    *,
    latency: float,
    intervals: Sequence[float] = (1.0, 5.0),
    timeout: float = 30.0,
    max_concurrent: Sequence[int | None] = (None,),
) -> list[ReactionResult]:
    """Streams, then each poll interval, each on a fresh lab and database; streams again for
    every further gateway size in `max_concurrent` (the first is used by every mode; None: the
    venue's budget, its documented weight window)."""
    first, *more = max_concurrent
    runs: list[tuple[str, float | None, int | None]] = [("streams", None, first)]
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
        "A BTC mark-price band is crossed on the lab's path (one `advance_to`); times are taken"
        " from the moment the lab's book has moved (the lab's own time to settle every account"
        " at the new prices, `lab move`, is not counted) to: the pre-check waking the account's"
        " tick (streams), the guard handing each account's reduce-only create-order request to the socket (`sent`,"
        " what issue 20 measures), and the lab's book recording it (`received`). Every REST"
        " answer is delayed by the injected latency (the lab acts at once, answers late); the"
        " websocket pushes are not delayed. All accounts share one gateway as `guard run`"
        " builds them: `venue` is the venue's request budget (the documented weight window,"
        " guard.gateway.ccxt.budget, with its in-flight cap); a number is a fixed in-flight cap"
        " (the weight window stays on). Streams move once every connection is open and the"
        " venue's weight window has room for every account's reaction. Target (issue 20):"
        " streams, sent, p99 within one venue round trip + 100 ms. The lab runs in its own"
        " process (a real venue is another machine; guard.lab.bench.lab_process): `CPU per"
        " account` is the guard process's CPU alone, from the move until the last order"
        " arrived, per account; `lab CPU` is the lab process's, the same way.",
        "",
        "| mode | accounts | latency | in flight | budget | orders | woken p99 | sent p50 |"
        " sent p99 | received p50 | received p99 | REST requests per tick | CPU per account |"
        " lab CPU | budget waits | lab move | p99 target |",
        "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    rows += [
        f"| {r.mode} | {r.accounts} | {r.latency_ms:.0f} ms | {r.max_concurrent} | {r.budget} |"
        f" {r.reacted} | {_woken(r)} | {r.sent_p50_ms:.0f} ms | {r.sent_p99_ms:.0f} ms |"
        f" {r.p50_ms:.0f} ms | {r.p99_ms:.0f} ms | {r.requests_per_tick:.1f} |"
        f" {r.cpu_ms_per_account:.1f} ms | {r.lab_cpu_ms_per_account:.1f} ms | {r.budget_waits} |"
        f" {r.advance_ms:.0f} ms |"
        f" {_target(r)} |"
        for r in results
    ]
    rows += [
        "",
        f"Load average (1/5/15 min) after the runs: {load}. The machine is shared (2 cores);"
        " the guard and the lab are two processes on it.",
        "",
        "What bounds the stream figure: one move wakes every account at once, and each woken"
        " tick then runs on the guard's one event loop: its reads (positions and account with"
        " the shared market data of the account's known markets, all concurrently: one round"
        " trip; the executor's re-read is the tick's own snapshot while that is within"
        " `reread_fresh` and nothing was sent since, else one more round trip), its store calls"
        " on the database thread, and its CPU; then the order. Every request holds one of the"
        " gateway's in-flight slots (`in flight`), so N accounts' two private reads each take"
        " about 2N / in-flight round trips. The last of N accounts waits for about N x CPU per"
        " account on top of those round trips.",
        "",
    ]
    return rows


def _woken(result: ReactionResult) -> str:
    return f"{result.woken_p99_ms:.0f} ms" if result.mode.startswith("streams") else ""


def _target(result: ReactionResult) -> str:
    if result.mode != "streams":
        return ""
    ok = result.reacted == result.accounts and result.sent_p99_ms <= result.latency_ms + 100
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
