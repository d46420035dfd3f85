"""The command line of scripts/bench (`python -m guard.lab.bench`): its options and their parsing.
Pure argument handling; the measuring is in the section modules."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from guard.lab.bench.reaction import gates

ROOT = Path(__file__).resolve().parents[3]
POSTGRES_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _counts(raw: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in raw.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"a comma-separated list of integers, got {raw!r}"
        ) from None
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"positive integers, got {raw!r}")
    return values


def _seconds(raw: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in raw.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"comma-separated seconds, got {raw!r}") from None
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"positive seconds, got {raw!r}")
    return values


def parser(description: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="scripts/bench", description=description)
    p.add_argument("--quick", action="store_true", help="short run: fewer accounts and samples")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    p.add_argument("--accounts", type=_counts, help="tick run sizes, e.g. 100,1000,5000")
    p.add_argument("--duration", type=float, help="measured seconds per tick run")
    p.add_argument("--interval", type=float, default=5.0, help="poll interval in seconds")
    p.add_argument("--latency", type=float, default=0.05, help="seconds added per venue call")
    p.add_argument("--iterations", type=int, help="evaluations per position count")
    p.add_argument("--positions", type=_counts, default=(1, 20, 200))
    p.add_argument("--replay-bars", type=int, help="replay only the first N bars")
    p.add_argument("--no-replay", action="store_true")
    p.add_argument(
        "--profile-accounts",
        type=int,
        default=200,
        help="accounts in the profiled tick run (0: no profile)",
    )
    p.add_argument("--policy", type=Path, default=ROOT / "policies" / "default.yaml")
    p.add_argument("--workdir", type=Path, help="where databases and logs go (default: a temp dir)")
    p.add_argument(
        "--postgres-accounts",
        type=_counts,
        help="tick run sizes on PostgreSQL (default: 2000, or none with --quick)",
    )
    p.add_argument(
        "--postgres-url",
        default=os.environ.get("GUARD_TEST_POSTGRES_URL", POSTGRES_ADMIN),
        help="an admin URL of the server; each run gets a scratch database, dropped after",
    )
    p.add_argument(
        "--postgres-workers",
        type=_counts,
        default=(1, 8),
        help="database threads of each PostgreSQL tick run (one run per value: before/after)",
    )
    p.add_argument(
        "--postgres-journal",
        action="store_true",
        help="configure an outage journal (service.journal) in each PostgreSQL tick run",
    )
    p.add_argument("--tick-cpu-accounts", type=int, default=200, help="0: skip (e)")
    p.add_argument("--tick-cpu-rounds", type=int, help="ticks per account in (e)")
    p.add_argument(
        "--venue-calls",
        type=_counts,
        default=(1000, 100),
        help="(f) accounts per venue gateway, e.g. 1000,100 (public calls at two sizes)",
    )
    p.add_argument("--no-venue-calls", action="store_true", help="skip (f)")
    p.add_argument(
        "--venue-calls-only",
        action="store_true",
        help="measure (f) alone and replace only its section of --out (others kept)",
    )
    p.add_argument(
        "--outside-accounts", type=int, default=200, help="accounts of `guard run` in (g); 0: skip"
    )
    p.add_argument("--outside-interval", type=float, default=2.0, help="poll interval in (g)")
    p.add_argument("--reaction-accounts", type=int, default=100, help="(h) accounts; 0: skip")
    p.add_argument(
        "--reaction-intervals",
        type=_seconds,
        default=(1.0, 5.0),
        help="(h) poll intervals compared with streams, seconds (e.g. 1,5)",
    )
    p.add_argument(
        "--reaction-gates",
        type=gates,
        default=(None,),
        help="(h) requests in flight ('venue': its budget), first for all modes, rest streams",
    )
    p.add_argument(
        "--reaction-only",
        action="store_true",
        help="run only (h) and replace its section in --out, keeping the other sections",
    )
    return p
