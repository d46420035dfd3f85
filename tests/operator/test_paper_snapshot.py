"""`guard snapshot` for paper accounts: the file reads back (through `guard inspect`'s parser) as
the same account; and the sample snapshot in examples/ feeds `guard inspect` and `guard evaluate`."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from guard.core.margin import measure
from guard.core.venues.registry import rules_for
from guard.gateway.parsers import parse_snapshot
from guard.service.assembly import build_paper
from guard.service.config import load_config
from tests.operator.conftest import run
from tests.service.helpers import POLICY, ROOT

SAMPLE = ROOT / "examples" / "paper-snapshot.json"
CONFIG = """
version: 1
accounts:
  - name: paper-demo
    venue: paper
    scenario: crash
    seed: 7
    speed: 0.000001            # virtual time stands still between the two reads
    start: 70m
    state_file: state.json
    policies: [{policy}]
"""


def test_snapshot_when_paper_account_then_file_reads_back_as_the_same_account(
    tmp_path: Path,
) -> None:
    config = tmp_path / "guard.yaml"
    config.write_text(CONFIG.format(policy=POLICY))
    out = tmp_path / "snap.json"
    ran = run("snapshot", "--config", str(config), "--account", "paper-demo", "--out", str(out))
    assert ran.code == 0, ran.text
    assert "saved paper snapshot of paper-demo" in ran.out and "3 position(s)" in ran.out
    assert not (tmp_path / "state.json").exists()  # the running service's file is not touched
    raw = json.loads(out.read_text())
    read = parse_snapshot("paper", "paper-demo", datetime.now(UTC), raw).snapshot
    (account,) = load_config(config).accounts
    driver = build_paper(account.model_copy(update={"state_file": None}), datetime.now(UTC))
    original = asyncio.run(driver.fetch_snapshot("paper-demo"))
    rules = rules_for("paper")
    want, got = measure(original, rules), measure(read, rules)
    assert abs(got.equity - want.equity) < Decimal("1e-9")
    assert len(got.positions) == len(want.positions) == 3
    for g, w in zip(got.positions, want.positions, strict=True):
        assert (g.key, g.quantity, g.margin_mode) == (w.key, w.quantity, w.margin_mode)
        assert g.liquidation_price is not None and w.liquidation_price is not None
        assert abs(g.liquidation_price - w.liquidation_price) < Decimal("1e-9")
    assert {s: m.amount_step for s, m in read.markets.items()} == {
        s: m.amount_step for s, m in original.markets.items()
    }


def test_inspect_and_evaluate_when_sample_snapshot_then_metrics_findings_and_orders() -> None:
    inspected = run("inspect", "--venue", "paper", "--snapshot", str(SAMPLE), "--json")
    assert inspected.code == 0, inspected.text
    metrics = json.loads(inspected.raw.stdout)
    assert len(metrics["positions"]) == 3 and Decimal(metrics["account"]["equity"]) > 0
    evaluated = run("evaluate", "--snapshot", str(SAMPLE), "--policy", str(POLICY), "--json")
    assert evaluated.code == 0, evaluated.text
    result = json.loads(evaluated.raw.stdout)
    assert result["findings"] and result["orders"]  # 70 minutes into the crash: the guard acts
    assert all(o["reduce_only"] for o in result["orders"])
