"""`python -m guard.lab.bench [--quick]` (what scripts/bench runs): measure and write
docs/benchmarks.md."""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
import tempfile
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import psycopg

from guard.lab.bench.arguments import parser
from guard.lab.bench.core import ALL_KINDS, LatencyResult, measure_latency, without
from guard.lab.bench.outside import OutsideRun, measure_outside
from guard.lab.bench.profile import TickProfile, profile_ticks
from guard.lab.bench.reaction import ReactionResult, measure_reaction
from guard.lab.bench.reaction import section as reaction_section
from guard.lab.bench.reaction import splice as reaction_splice
from guard.lab.bench.replays import ReplayBench, measure_replay
from guard.lab.bench.report import LAG_TARGET_MS, Run, markdown
from guard.lab.bench.stats import load_average, machine
from guard.lab.bench.tick_cpu import TickCpu, measure_tick_cpu, scratch_postgres
from guard.lab.bench.ticks import TickResult, measure_ticks
from guard.lab.bench.venue_calls import VENUES, measure_venue_calls
from guard.lab.bench.venue_calls_doc import section, splice
from guard.service.files import load_policies
from guard.service.logs import logging_to

ROOT = Path(__file__).resolve().parents[3]
FULL_ACCOUNTS = (100, 1000, 3000, 5000)
QUICK_ACCOUNTS = (100, 1000)
FULL_POSTGRES_ACCOUNTS = (2000,)


def _venue_calls(args: argparse.Namespace, command: str) -> str:
    before = load_average()
    found = []
    for counts in args.venue_calls:
        _say(f"(f) venue calls, {counts} accounts per venue")
        for result in measure_venue_calls((counts,)):
            found.append(result)
            _say(
                f"    {result.venue:<12} {result.accounts:>5} accounts: private/account/tick"
                f" worst {result.worst_tick:.2f}, average {result.average:.3f}, crash reads"
                f" {result.crash_reads:.2f}; public/venue/tick {result.steady_public:.2f}"
            )
    found.sort(key=lambda r: (VENUES.index(r.venue), -r.accounts))
    return section(found, command, before, load_average())


def _reaction(args: argparse.Namespace, work: Path) -> list[ReactionResult]:
    if args.reaction_accounts <= 0:
        return []
    _say(f"(h) reaction time, {args.reaction_accounts} accounts, latency {args.latency:g} s")
    with open(os.devnull, "w", encoding="utf-8") as sink, logging_to(sink, level=logging.WARNING):
        results = measure_reaction(
            work / "reaction",
            args.reaction_accounts,
            latency=args.latency,
            intervals=args.reaction_intervals,
            max_concurrent=args.reaction_gates,
        )
    for r in results:
        _say(f"    {r.describe()}")
    return results


def _say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def notes(
    ticks: Sequence[TickResult], interval: float, profiled: TickProfile | None = None
) -> list[str]:
    """What limits each tick run, from its own figures (and the profile's, when there is one)."""
    found: list[str] = []
    if profiled is not None:
        store = next((share for part, share in profiled.shares if part.startswith("store")), 0.0)
        found.append(
            f"The store's calls take {100 * store:.0f} % of the profiled tick's time (profile"
            " above; with the database thread the calls run there, so this share is what the"
            " event loop waits for, not its CPU): one read and one write per tick (section e)."
        )
    for t in ticks:
        cpu_ms = 1000 * t.cpu_s / t.served if t.served else 0.0
        needed = t.accounts / interval
        load = needed * cpu_ms / 1000
        line = (
            f"{t.accounts:,} accounts on {t.database} need {needed:,.0f} ticks/s; the process spent"
            f" {cpu_ms:.1f} ms CPU per tick (store, evaluation, paper venue, logging), i.e."
            f" {100 * load:.0f} % of one core."
        )
        if t.lag_p99_ms > LAG_TARGET_MS or t.missed:
            line += (
                " The event loop is one thread, so past ~100 % it cannot keep up: lag grows"
                " and ticks are coalesced. This size needs a faster tick or more processes"
                " (scale-out replicas sharing the accounts through leases)."
            )
        found.append(line)
    return found


def _say_latency(result: LatencyResult) -> None:
    _say(
        f"    p50 {result.p50_us / 1000:.2f} ms, p99 {result.p99_us / 1000:.2f} ms"
        f" (targets: p99 <= 1 ms at 20 positions, <= 5 ms at 200)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parser(__doc__).parse_args(argv)
    command = "scripts/bench " + shlex.join(list(argv if argv is not None else sys.argv[1:]))
    if args.venue_calls_only:
        text = _venue_calls(args, command.strip())
        print(text)
        old = args.out.read_text(encoding="utf-8") if args.out.exists() else "# Benchmarks\n"
        args.out.write_text(splice(old, text), encoding="utf-8")
        _say(f"wrote the (f) section of {args.out}")
        return 0
    quick = bool(args.quick)
    accounts = args.accounts or (QUICK_ACCOUNTS if quick else FULL_ACCOUNTS)
    duration = args.duration or (10.0 if quick else 60.0)
    iterations = args.iterations or (200 if quick else 2000)
    described = machine()  # before the load of the run itself
    work = args.workdir or Path(tempfile.mkdtemp(prefix="guard-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    _say(f"work folder {work}")
    if args.reaction_only:
        reaction = _reaction(args, work)
        document = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        args.out.write_text(
            reaction_splice(document, reaction_section(reaction, load_average())),
            encoding="utf-8",
        )
        _say(f"wrote section (h) of {args.out}")
        return 0

    latency: list[LatencyResult] = []
    for positions in args.positions:
        count = max(10, iterations // 10) if positions >= 100 else iterations
        _say(f"(a) evaluate + plan, {positions} position(s), {count} iterations")
        latency.append(measure_latency(positions, count))
        _say_latency(latency[-1])
    if 20 in args.positions:  # the stress rule's share, at the target's size
        _say("(a) evaluate + plan, 20 positions, every kind except stress")
        latency.append(
            measure_latency(20, iterations, without(load_policies([ALL_KINDS]), "stress"))
        )
        _say_latency(latency[-1])

    ticks: list[TickResult] = []
    for n in accounts:
        _say(f"(b) {n} accounts, {args.interval:g} s interval, {duration:g} s window")
        ticks.append(
            measure_ticks(
                work / f"ticks-{n}",
                n,
                interval=args.interval,
                duration=duration,
                latency=args.latency,
                policy=args.policy,
            )
        )
        t = ticks[-1]
        _say(
            f"    {t.ticks_per_s:.1f} ticks/s, lag p50 {t.lag_p50_ms:.0f} ms p99"
            f" {t.lag_p99_ms:.0f} ms, missed {t.missed}, CPU {t.cpu_pct:.0f} %"
        )

    for n in args.postgres_accounts or (() if quick else FULL_POSTGRES_ACCOUNTS):
        for workers in args.postgres_workers:
            _say(
                f"(b) {n} accounts on PostgreSQL, {workers} db thread(s),"
                f" {'a' if args.postgres_journal else 'no'} journal, {args.interval:g} s"
                f" interval, {duration:g} s"
            )
            with scratch_postgres(args.postgres_url) as url:
                ticks.append(
                    measure_ticks(
                        work / f"ticks-pg-{n}-{workers}",
                        n,
                        interval=args.interval,
                        duration=duration,
                        latency=args.latency,
                        policy=args.policy,
                        database_url=url,
                        db_workers=workers,
                        journal=args.postgres_journal,
                    )
                )
            t = ticks[-1]
            _say(
                f"    {t.ticks_per_s:.1f} ticks/s, lag p99 {t.lag_p99_ms:.0f} ms, missed {t.missed}"
            )

    tick_cpu: list[TickCpu] = []
    if args.tick_cpu_accounts > 0:
        rounds = args.tick_cpu_rounds or (10 if quick else 30)
        with (work / "tick-cpu.log").open("w", encoding="utf-8") as log:
            _say(f"(e) CPU per tick, {args.tick_cpu_accounts} accounts x {rounds}, SQLite")
            tick_cpu.append(
                measure_tick_cpu(
                    work / "cpu-sqlite",
                    args.tick_cpu_accounts,
                    rounds=rounds,
                    policy=args.policy,
                    log=log,
                )
            )
            _say(f"(e) CPU per tick, {args.tick_cpu_accounts} accounts x {rounds}, PostgreSQL")
            try:
                with scratch_postgres(args.postgres_url) as url:
                    tick_cpu.append(
                        measure_tick_cpu(
                            work / "cpu-pg",
                            args.tick_cpu_accounts,
                            rounds=rounds,
                            policy=args.policy,
                            database_url=url,
                            log=log,
                        )
                    )
            except psycopg.OperationalError as error:  # reported as "not measured"
                _say(f"    PostgreSQL unreachable, not measured: {error}")
        for c in tick_cpu:
            _say(f"    {c.database}: {c.cpu_ms:.2f} ms/tick, store {c.store_cpu_ms:.2f} ms")

    outside: list[OutsideRun] = []
    if args.outside_accounts > 0:
        window = min(duration, 20.0)
        _say(
            f"(g) guard run, {args.outside_accounts} accounts at {args.outside_interval:g} s,"
            f" {window:g} s window"
        )
        outside.append(
            measure_outside(
                work / "outside",
                args.outside_accounts,
                interval=args.outside_interval,
                duration=window,
                warmup=3 * args.outside_interval,
                policy=args.policy,
            )
        )
        o = outside[-1]
        _say(f"    {o.cpu_ms:.2f} ms CPU/tick, {o.audit_rows_per_tick:.3f} audit rows/tick")

    profiled: TickProfile | None = None
    if args.profile_accounts > 0:
        _say(f"profile: {args.profile_accounts} accounts under cProfile")
        profiled = profile_ticks(
            work / "profile",
            args.profile_accounts,
            duration=min(duration, 10.0),
            interval=args.interval,
            latency=args.latency,
            policy=args.policy,
        )

    replay: ReplayBench | None = None
    if not args.no_replay:
        bars = args.replay_bars or (600 if quick else None)
        _say(f"(d) replay{f' (first {bars} bars)' if bars else ''}")
        with (
            open(os.devnull, "w", encoding="utf-8") as sink,
            logging_to(sink, level=logging.WARNING),
        ):
            replay = measure_replay(work / "replay", ROOT, args.policy, timedelta(minutes=5), bars)

    calls = "" if args.no_venue_calls else _venue_calls(args, command.strip())
    reaction = _reaction(args, work)
    command = "scripts/bench " + shlex.join(list(argv if argv is not None else sys.argv[1:]))
    run = Run(
        machine=described,
        command=command.strip(),
        quick=quick,
        latency=latency,
        ticks=ticks,
        replay=replay,
        profile=profiled,
        tick_policy=_shown(args.policy),
        load_after=load_average(),
        latency_s=args.latency,
        notes=notes(ticks, args.interval, profiled),
        tick_cpu=tick_cpu,
        venue_calls=calls,
        outside=outside,
        reaction=reaction,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(markdown(run), encoding="utf-8")
    _say(f"wrote {args.out}")
    return 0


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
