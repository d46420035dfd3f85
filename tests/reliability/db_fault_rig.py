"""The database fault matrix rig: `guard run` (a real process) guards two paper accounts through
the crash scenario while a database fault is injected, /health is sampled every 0.5 s, and the
run is judged afterwards: the longest gap between protective ticks of any account, orders sent
during the fault, duplicates, orders without a durable intent, lost audit events, `guard audit
verify`, the health timeline, and a restart. Faults: another process holding SQLite's write lock,
a full disk (a small tmpfs), a private PostgreSQL cluster stopped or blackholed (a local TCP proxy
that stops forwarding), a SIGKILL mid-outage, a full journal disk, a lock set just before."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from guard.store import Store
from tests.reliability.blackhole import Blackhole
from tests.service.helpers import POLICY

__all__ = ["Blackhole", "Outcome", "Trial"]

ACCOUNTS = ("crash-a", "crash-b")
POLL = 1.0  # seconds: the goal is a gap of at most 2 poll intervals
ACCOUNT = """
  - name: {name}
    venue: paper
    scenario: crash
    speed: 100
    start: 42m
    state_file: {folder}/{name}.json
    policies: [{policy}]
    poll_interval: {poll}s
"""
CONFIG = """
version: 1
service:
  database_url: {url}
  create_schema: true
  staleness: 10m
  health_port: {port}
  housekeeping: 5s
  breakers: {{max_orders_per_account: 500, max_notional_per_account: 100000000,
             max_orders_global: 500, max_notional_global: 100000000}}
{extra}accounts:
{accounts}
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Guard:
    """One `guard run` process with its log file."""

    config: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        out = self.log.open("ab")
        code = "import sys; from guard.operator.cli import main; sys.argv[0] = 'guard'; main()"
        self.process = subprocess.Popen(
            [sys.executable, "-u", "-c", code, "run", "--config", str(self.config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        )
        out.close()

    def kill(self, sig: int = signal.SIGKILL) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def wait(self, timeout: float = 30) -> int | None:
        assert self.process is not None
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            return None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class Health:
    """/health sampled every 0.5 s: (seconds since the fault began, HTTP code, reason keys)."""

    port: int
    samples: list[tuple[float, int, str]] = field(default_factory=list)
    origin: float = 0.0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as r:
                    code, body = r.status, json.loads(r.read())
            except urllib.error.HTTPError as error:
                code, body = error.code, json.loads(error.read() or b"{}")
            except (OSError, ValueError):
                code, body = 0, {}
            self.samples.append((started - self.origin, code, _kinds(body.get("reasons", []))))
            self.stop.wait(max(0.0, 0.5 - (time.monotonic() - started)))

    def timeline(self, end: float) -> str:
        """Each change of what /health said, with when (s from the fault's start)."""
        parts: list[str] = []
        last: tuple[int, str] | None = None
        for at, code, kinds in self.samples:
            if at < -2 or at > end:
                continue
            if (code, kinds) != last:
                said = "no answer" if code == 0 else f"{code}{' ' + kinds if kinds else ''}"
                parts.append(f"{at:+.1f}s {said}")
                last = (code, kinds)
        return "; ".join(parts)


def _kinds(reasons: list[str]) -> str:
    """The reason kinds, short: database, pause, stall, leases, tick, ..."""
    found: list[str] = []
    for reason in reasons:
        text = reason.split(": ", 1)[-1]
        for word, name in (
            ("database", "database"),
            ("journal", "journal"),
            ("lease", "leases"),
            ("no successful tick", "stalled"),
            ("pause", "pause"),
            ("tick failed", "tick-failed"),
        ):
            if word in text:
                if name not in found:
                    found.append(name)
                break
        else:
            short = " ".join(text.split()[:3])
            if short not in found:
                found.append(short)
    return "(" + ",".join(found) + ")" if found else ""


@dataclass
class Outcome:
    """One row of the matrix, measured."""

    row: str
    gap: float  # longest gap between protective ticks of any account, s (fault window)
    gap_at: str  # which account, and when that gap ended
    sent_by_account: str  # orders sent during the fault per account
    sent_during: int
    duplicates: int
    without_intent: int
    lost_events: int
    verify: str
    health: str
    restart: str
    failed_ticks: int
    notes: str = ""

    def line(self) -> str:
        goal = "met" if self.gap <= 2 * POLL else "NOT met"
        return (
            f"db fault | {self.row} | longest gap {self.gap:.1f}s ({goal}, poll {POLL:g}s; "
            f"{self.gap_at}) | "
            f"failed ticks {self.failed_ticks} | sent during fault {self.sent_during} "
            f"({self.sent_by_account}) | "
            f"duplicates {self.duplicates} | without intent {self.without_intent} | "
            f"lost audit events {self.lost_events} | verify {self.verify} | "
            f"restart {self.restart} | health {self.health}"
            + (f" | {self.notes}" if self.notes else "")
        )


def ticks(log: Path) -> list[tuple[float, str, bool, int]]:
    """(unix time, account, protective, orders sent) of every tick line in the log."""
    found: list[tuple[float, str, bool, int]] = []
    for raw in log.read_text(errors="replace").splitlines():
        if not raw.startswith("{"):
            continue
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if line.get("event") != "tick" or "account" not in line:
            continue
        at = datetime.fromisoformat(line["timestamp"].replace("Z", "+00:00")).timestamp()
        found.append((at, line["account"], line.get("error") is None, int(line.get("sent") or 0)))
    return found


def longest_gap(
    lines: list[tuple[float, str, bool, int]], start: float, end: float
) -> tuple[float, str]:
    """The longest time any account went without a protective tick within [start, end], and
    where (account, seconds from `start` at which the gap ended)."""
    worst, where = 0.0, ""
    for account in ACCOUNTS:
        times = [at for at, name, ok, _ in lines if name == account and ok]
        previous = max((t for t in times if t <= start), default=start)
        for moment in [t for t in times if start < t <= end] + [end]:
            if moment - previous > worst:
                worst, where = moment - previous, f"{account} at {moment - start:+.1f}s"
            previous = moment
    return worst, where


@dataclass
class Trial:
    """A folder, a database, a config, a guard process and its health sampler."""

    folder: Path
    url: str
    extra: str = ""
    port: int = field(default_factory=free_port)
    notes: str = ""  # what a row's fault did beyond the figures (e.g. refused starts)

    def __post_init__(self) -> None:
        accounts = "".join(
            ACCOUNT.format(name=n, folder=self.folder, policy=POLICY, poll=POLL) for n in ACCOUNTS
        )
        self.config = self.folder / "guard.yaml"
        self.config.write_text(
            CONFIG.format(url=self.url, port=self.port, extra=self.extra, accounts=accounts)
        )
        self.guard = Guard(self.config, self.folder / "guard.log")
        self.health = Health(self.port)

    def cli(self, *args: str, db: str | None = None) -> subprocess.CompletedProcess[str]:
        code = "import sys; from guard.operator.cli import main; sys.argv[0] = 'guard'; main()"
        return subprocess.run(
            [sys.executable, "-c", code, *args, "--db", db or self.url],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        )

    def run(
        self,
        row: str,
        fault: Callable[[Trial], None],
        heal: Callable[[Trial], None],
        *,
        duration: float,
        warmup: float = 6.0,
        after: float = 8.0,
        during: Callable[[Trial, float], None] | None = None,
    ) -> Outcome:
        """Warm up, inject `fault` for `duration` s (`during(trial, elapsed)` called each 0.5 s),
        `heal`, let it recover, stop it (SIGTERM), restart it once, and judge the run."""
        self.guard.start()
        sampler = threading.Thread(target=self.health.run, daemon=True)
        self.health.origin = time.monotonic() + 1e9  # set properly at the fault
        sampler.start()
        self._ready(time.time())
        time.sleep(warmup)  # a few protective ticks of both accounts before the fault
        self.health.origin = time.monotonic()
        fault(self)
        began = time.time()  # the fault is in place
        while time.time() - began < duration:
            time.sleep(0.5)
            if during is not None:
                during(self, time.time() - began)
        heal(self)
        healed = time.time()
        time.sleep(after)
        self.health.stop.set()
        sampler.join(5)
        if self.guard.alive():
            self.guard.kill(signal.SIGTERM)
        self.guard.wait(30)
        lines = ticks(self.guard.log)
        window = [t for t in lines if began <= t[0] <= healed]
        restart = self._restart()
        gap, gap_at = longest_gap(lines, began, healed)
        return Outcome(
            row=row,
            gap=gap,
            gap_at=gap_at,
            sent_by_account=", ".join(
                f"{a} {sum(n for _, name, _, n in window if name == a)}" for a in ACCOUNTS
            ),
            sent_during=sum(sent for _, _, _, sent in window),
            failed_ticks=sum(1 for _, _, ok, _ in window if not ok),
            health=self.health.timeline(healed - began + after),
            restart=restart,
            notes=self.notes,
            **self._judge(),
        )

    def _ready(self, mark: float, within: float = 90) -> bool:
        """Wait until both accounts have ticked protectively since `mark` (start-up is slow on a
        loaded machine)."""
        deadline = mark + within
        while time.time() < deadline and self.guard.alive():
            seen = {a for at, a, ok, _ in ticks(self.guard.log) if at >= mark and ok}
            if seen == set(ACCOUNTS):
                return True
            time.sleep(0.2)
        return False

    def _restart(self) -> str:
        """Start `guard run` again: it must tick both accounts protectively within 60 s."""
        mark = time.time()
        self.guard.start()
        if self._ready(mark, 60):
            took = time.time() - mark
            self.guard.kill(signal.SIGTERM)
            self.guard.wait(30)
            return f"ok in {took:.1f}s"
        alive = self.guard.alive()
        if alive:
            self.guard.kill(signal.SIGTERM)
        code = self.guard.wait(30)
        return "no protective tick in 60s" if alive else f"REFUSED (exit {code})"

    def _judge(self) -> dict[str, Any]:
        received: list[str] = []
        for name in ACCOUNTS:
            book = json.loads((self.folder / f"{name}.json").read_text())
            received += book["received"]
        store = Store(self.url)
        try:
            intents = {i.client_order_id for n in ACCOUNTS for i in store.intents(n)}
            sent_events = {
                e.client_order_id
                for e in store.events()
                if e.kind == "order_sent" and e.client_order_id is not None
            }
        finally:
            store.dispose()
        verified = self.cli("audit", "verify")
        verdict = (verified.stdout.strip().splitlines() or ["?"])[0]
        return {
            "duplicates": len(received) - len(set(received)),
            "without_intent": len(set(received) - intents),
            "lost_events": len(set(received) - sent_events),
            "verify": f"exit {verified.returncode}: {verdict[:60]}",
        }


def now() -> datetime:
    return datetime.now(UTC)
