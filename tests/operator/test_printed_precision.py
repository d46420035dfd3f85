"""`guard evaluate` and `guard inspect` print prices at each market's tick, quantities at its amount
step, money to the cent and ratios in %, on the repository's sample snapshot (examples/), whose
marks carry 28 significant digits; --json keeps the exact figures in plain notation."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from guard.operator.commands import common
from tests.operator.conftest import run

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "paper-snapshot.json"
POLICY = ROOT / "policies" / "examples" / "wave1-default.yaml"  # sells at once: no confirmation
LONG_DECIMAL = re.compile(r"\d\.\d{7,}")  # 7 or more decimals: noise, not a venue's precision


BOX = re.compile(r"[\u2500-\u257f]")  # rich's table lines


def cells(text: str) -> str:
    """The printed tables' cells in reading order, one space apart."""
    return " ".join(BOX.sub(" ", text).split())


@pytest.fixture(autouse=True)
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common.console, "width", 200)  # whole cells, no ellipsis


def test_evaluate_when_sample_snapshot_then_orders_at_step_and_tick_metrics_rounded() -> None:
    ran = run("evaluate", "--snapshot", str(SAMPLE), "--policy", str(POLICY))
    assert ran.code == 0, ran.text
    out = cells(ran.out)
    assert not LONG_DECIMAL.search(out), out
    # equity 8 615.117576… to the cent; margin ratio 0.0621726… and worst distance 0.0837643…
    assert "equity 8,615.12" in out and "margin_ratio 6.22%" in out
    assert "worst_liquidation_distance 8.38%" in out
    # BTC: 25 % of 1.2 = 0.300 on a 0.001 step reads 0.3; its limit, the mark 55 924.9587 less
    # 2 % slippage = 54 806.4595, at the 0.1 tick reads 54806.5; SOL 25.0 reads 25
    assert "BTC/USDT:USDT sell 0.3 market 54806.5" in out
    assert "SOL/USDT:USDT sell 25 market" in out


def test_evaluate_when_json_then_exact_plain_decimals() -> None:
    ran = run("evaluate", "--snapshot", str(SAMPLE), "--policy", str(POLICY), "--json")
    document = json.loads(ran.raw.stdout)
    assert document["metrics"]["drawdown"] == "0"  # never 0E+23
    assert [o["quantity"] for o in document["orders"]] == ["0.3", "25"]  # not 0.300, 25.0
    assert document["metrics"]["equity"].startswith("8615.1175760603333")  # exact


def test_inspect_when_sample_snapshot_then_prices_at_tick_quantities_at_step() -> None:
    ran = run("inspect", "--venue", "paper", "--snapshot", str(SAMPLE))
    assert ran.code == 0, ran.text
    out = cells(ran.out)
    assert not LONG_DECIMAL.search(out), out
    assert "8,615.12 535.62 6.22% -5,416.61 15.05x" in out
    # BTC mark 55 924.9587 at tick 0.1 -> 55925; SOL mark 131.51184 at tick 0.001 -> 131.512;
    # quantities 1.2 (step 0.001) and 100 (step 0.1) as they are, not 1.200000 / 100.000000
    assert "BTC/USDT:USDT:long cross 1.2 60000 55925 " in out
    assert "SOL/USDT:USDT:long isolated 100 150 131.512 " in out
    assert "10.46%" in out and "8.38%" in out


def test_inspect_when_json_then_exact_plain_decimals() -> None:
    ran = run("inspect", "--venue", "paper", "--snapshot", str(SAMPLE), "--json")
    document = json.loads(ran.raw.stdout)
    btc = document["positions"][0]
    assert btc["mark_price"] == "55924.95865622500000000189534"  # exact, as the file has it
    assert not re.search(r"\d[eE][+-]?\d", json.dumps(document))  # no exponent anywhere
