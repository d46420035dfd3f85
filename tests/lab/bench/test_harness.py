"""Smoke test of the benchmark harness (guard/lab/bench) in a tiny configuration, so that a change
breaking `scripts/bench` fails scripts/test; the figures themselves are not asserted."""

from __future__ import annotations

from pathlib import Path

import pytest

from guard.core.validity import snapshot_problems
from guard.lab.bench.__main__ import main
from guard.lab.bench.core import ALL_KINDS, KINDS, bench_snapshot, measure_latency
from guard.lab.bench.stats import percentile
from guard.service.files import load_policies

ROOT = Path(__file__).resolve().parents[3]


def test_load_when_bench_policy_then_every_rule_kind_is_enabled() -> None:
    policies = load_policies([ALL_KINDS])
    assert sorted({str(getattr(rule, "kind", "")) for rule in policies.rules}) == sorted(KINDS)
    assert all(rule.enabled for rule in policies.rules)


def test_snapshot_when_n_positions_then_consistent_and_distinct_markets() -> None:
    snapshot = bench_snapshot(20)
    assert len(snapshot.positions) == 20
    assert len({p.symbol for p in snapshot.positions}) == 20
    assert snapshot_problems(snapshot) == ()


def test_percentile_when_known_values_then_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.50) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([], 0.5) == 0.0


def test_latency_when_measured_then_positive_and_ordered() -> None:
    result = measure_latency(2, 20)
    assert result.iterations == 20
    assert 0 < result.p50_us <= result.p99_us


@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_harness_when_tiny_run_then_writes_report_with_every_part(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    code = main(
        [
            "--quick",
            "--out",
            str(out),
            "--workdir",
            str(tmp_path / "work"),
            "--positions",
            "1,3",
            "--iterations",
            "20",
            "--accounts",
            "4",
            "--interval",
            "0.5",
            "--duration",
            "1.5",
            "--latency",
            "0.01",
            "--profile-accounts",
            "3",
            "--replay-bars",
            "30",
            "--tick-cpu-accounts",
            "2",
            "--tick-cpu-rounds",
            "2",
            "--outside-accounts",
            "3",
            "--outside-interval",
            "0.5",
            "--reaction-accounts",
            "0",
        ]
    )
    assert code == 0
    text = out.read_text(encoding="utf-8")
    headings = ("## Machine", "## Targets", "(a) Core", "(b) Service", "(d) Replay", "(e) CPU")
    for heading in (*headings, "(g) `guard run` seen from outside"):
        assert heading in text
    assert "`guard run`, 3 calm paper accounts at 0.5 s on SQLite" in text
    assert "| CPU |" in text and "| Python |" in text
    row = next(line for line in text.splitlines() if line.startswith("| SQLite | 4 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    ticks = int(cells[4].replace(",", ""))
    assert ticks >= 4  # every account ticked at least once in the window
    assert float(cells[13]) == pytest.approx(1.0)  # one snapshot call per tick, no orders
    cpu = next(line for line in text.splitlines() if line.startswith("| SQLite | 2 | 4 |"))
    assert float(cpu.split("|")[4].strip().removesuffix(" ms")) > 0  # process CPU per tick
    assert "Where a tick's time goes" in text


@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_reaction_only_when_tiny_run_then_section_f_written_and_other_sections_kept(
    tmp_path: Path,
) -> None:
    out = tmp_path / "benchmarks.md"
    out.write_text("# Benchmarks\n\n## (e) CPU\n\nkept\n\n## What limits\n\nkept too\n")
    args = ["--out", str(out), "--workdir", str(tmp_path / "work"), "--latency", "0.01"]
    args += ["--reaction-only", "--reaction-accounts", "2", "--reaction-intervals", "0.5"]
    assert main(args) == 0
    text = out.read_text(encoding="utf-8")
    assert text.count("kept") == 2 and text.index("## (h) Reaction") > text.index("## What")
    rows = [line for line in text.splitlines() if line.startswith(("| streams |", "| poll"))]
    assert [row.split("|")[1].strip() for row in rows] == ["streams", "poll 0.5s"]
    for row in rows:  # both accounts' orders reached the lab, after the move
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[4] == "2" and float(cells[5].removesuffix(" ms")) > 0
