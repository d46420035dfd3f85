"""The reaction bench's venue lab in its own process (a real venue is another machine), so the
guard's process CPU is the guard's alone: N Binance lab accounts on the crash path with injected
REST latency, driven over a pipe (spawned process, its own event loop). Its clock is mirrored in
the guard's process: the lab's virtual time does not move by itself (unpaced), only by `move`,
from which the mirror runs on with the wall clock (so `reread_fresh` and the market-data epoch
age as they would live). Times are `time.monotonic`, one clock for both processes (Linux).
Not pure (a process, sockets, clocks)."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from guard.gateway.paper.scenarios import crash
from guard.lab.venue_lab import LabAccount, VenueLab, build_lab
from guard.lab.venue_lab.faults import Fault, FaultKind

SECRET = "bench-secret-0123456789abcdef"
SYMBOL = "BTC/USDT:USDT"


@dataclass(frozen=True, slots=True)
class LabFacts:
    """What the lab process reports once it serves."""

    port: int
    trigger: Decimal  # the band: 3 % below the BTC mark at the start
    now: datetime  # the lab's virtual time at the start
    crossing: datetime  # the first moment (30 s steps) at which the mark is below `trigger`


def lab_accounts(accounts: int) -> list[LabAccount]:
    return [
        LabAccount("binance", f"bench-key-{i}", f"acct-{i:04d}", secret=SECRET)
        for i in range(accounts)
    ]


def credentials(accounts: int) -> dict[str, dict[str, str]]:
    """paper account -> its lab API key and secret."""
    return {a.paper: {"apiKey": a.key, "secret": SECRET} for a in lab_accounts(accounts)}


def crossing(lab: VenueLab, trigger: Decimal) -> datetime:
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


def arrivals(lab: VenueLab) -> dict[str, float]:
    """When (monotonic) the lab's book records each paper account's first order from now."""
    timed = _Arrivals(lab.book.orders)
    lab.book.orders = timed
    return timed.seen


def _main(conn: Any, accounts: int, latency: float) -> None:  # the lab process
    asyncio.run(_serve(conn, accounts, latency))


async def _serve(conn: Any, accounts: int, latency: float) -> None:
    lab = build_lab(crash(), lab_accounts(accounts), venues=["binance"], budgets={})
    await lab.start()
    lab.arm(Fault(FaultKind.LATENCY, venue="binance", times=10**9, seconds=latency))
    trigger = (lab.book.mark(SYMBOL) * Decimal("0.97")).quantize(Decimal(1))
    moment = crossing(lab, trigger)
    conn.send(LabFacts(lab.port, trigger, lab.book.now(), moment))
    loop = asyncio.get_running_loop()
    seen: dict[str, float] = {}
    cpu = 0.0
    try:
        while True:
            command, argument = await loop.run_in_executor(None, conn.recv)
            if command == "stop":
                break
            if command == "streams":  # websocket connections open at the lab
                conn.send(len(lab.streams.open))
            elif command == "requests":  # REST requests served so far
                conn.send(len(lab.requests))
            elif command == "move":  # cross the band: (monotonic before, after settling)
                seen = arrivals(lab)
                cpu = time.process_time()
                before = time.monotonic()
                lab.book.advance_to(moment)
                conn.send((before, time.monotonic()))
            elif command == "arrivals":  # wait for `count` accounts' orders until `deadline`
                count, deadline = argument
                while len(seen) < count and time.monotonic() < deadline:
                    await asyncio.sleep(0.005)
                conn.send((dict(seen), time.process_time() - cpu))
    finally:
        await lab.stop()
        conn.close()


class LabProcess:
    """The parent's handle: `base_url` and `now` as stream_rig wants them, commands as awaits."""

    def __init__(self, accounts: int, latency: float) -> None:
        context = multiprocessing.get_context("spawn")  # no fork of a process with threads
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_main, args=(child, accounts, latency), name="venue-lab", daemon=True
        )
        self._child = child
        self.facts: LabFacts | None = None
        self._anchor: tuple[float, datetime] | None = None  # (monotonic, virtual) after a move

    async def start(self) -> LabFacts:
        self._process.start()
        self._child.close()
        facts: LabFacts = await asyncio.to_thread(self._conn.recv)
        self.facts = facts
        return facts

    def base_url(self, venue: str) -> str:
        assert self.facts is not None
        return f"http://127.0.0.1:{self.facts.port}/{venue}"

    def now(self) -> datetime:
        """The lab's virtual time: static until the move, then on with the wall clock."""
        assert self.facts is not None
        if self._anchor is None:
            return self.facts.now
        at, virtual = self._anchor
        return virtual + timedelta(seconds=time.monotonic() - at)

    async def ask(self, command: str, argument: Any = None) -> Any:
        self._conn.send((command, argument))
        return await asyncio.to_thread(self._conn.recv)

    async def move(self) -> tuple[float, float]:
        """Cross the band; (monotonic before, monotonic once the lab's book has settled)."""
        assert self.facts is not None
        # the guard's clock crosses as the command leaves: the lab answers nothing until it
        # has settled, and its pushes from then on are stamped with the crossing's time
        self._anchor = (time.monotonic(), self.facts.crossing)
        before, moved = await self.ask("move")
        return before, moved

    async def stop(self) -> None:
        if self._process.is_alive():
            self._conn.send(("stop", None))
            await asyncio.to_thread(self._process.join, 10)
        if self._process.is_alive():
            self._process.kill()
        self._conn.close()
