"""`guard evaluate`: an offline run on a paper-format snapshot file (JSON shape, exit codes)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from guard.operator.cli import app

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "policies" / "default.yaml"


def snapshot_file(tmp_path: Path, mark: int, total: int) -> Path:
    raw: dict[str, Any] = {
        "taken_at": "2024-08-05T00:00:00Z",
        "positions": [
            {
                "symbol": "BTC/USDT:USDT",
                "side": "long",
                "contracts": 1,
                "contractSize": 1,
                "entryPrice": 60000,
                "markPrice": mark,
                "marginMode": "cross",
                "leverage": 20,
            }
        ],
        "balance": {"USDT": {"total": total}},
        "markets": {
            "BTC/USDT:USDT": {
                "symbol": "BTC/USDT:USDT",
                "base": "BTC",
                "quote": "USDT",
                "settle": "USDT",
                "contractSize": 1,
                "precision": {"amount": 0.001, "price": 0.1},
                "limits": {"amount": {"min": 0.001}, "cost": {"min": 5}},
            }
        },
        "funding_rates": {},
        "account_info": None,
    }
    path = tmp_path / "acct.json"
    path.write_text(json.dumps(raw))
    return path


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, ["evaluate", *args])


def test_evaluate_when_near_liquidation_at_first_sight_then_default_warns_without_orders(
    tmp_path: Path,
) -> None:
    path = snapshot_file(tmp_path, 57000, 4000)
    result = invoke("--snapshot", str(path), "--policy", str(DEFAULT), "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    ladder = [f for f in document["findings"] if f["rule_id"] == "liquidation-ladder"]
    assert len(ladder) == 1 and "starts inside band(s) 1 " in ladder[0]["reason"]
    assert document["orders"] == []


def test_evaluate_when_near_liquidation_and_at_start_act_then_json_reduce_only_orders(
    tmp_path: Path,
) -> None:
    path = snapshot_file(tmp_path, 57000, 4000)
    acting = tmp_path / "acting.yaml"
    acting.write_text(DEFAULT.read_text().replace("at_start: warn", "at_start: act"))
    result = invoke("--snapshot", str(path), "--policy", str(acting), "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    ladder = [f for f in document["findings"] if f["rule_id"] == "liquidation-ladder"]
    assert len(ladder) == 1 and "band 1 trigger 40%" in ladder[0]["reason"]
    assert ladder[0]["symbol"] == "BTC/USDT:USDT"
    (order,) = document["orders"]
    assert order["side"] == "sell" and order["reduce_only"] is True
    assert Decimal(order["quantity"]) == Decimal("0.5")  # band 1: half of the position
    assert order["rule_ids"] == ["liquidation-ladder"]
    assert isinstance(order["quantity"], str) and isinstance(document["metrics"]["equity"], str)
    again = invoke("--snapshot", str(path), "--policy", str(acting), "--json")
    assert json.loads(again.stdout)["orders"][0]["client_order_id"] == order["client_order_id"]


def test_evaluate_when_safe_then_no_findings_and_no_orders(tmp_path: Path) -> None:
    path = snapshot_file(tmp_path, 60000, 50000)
    result = invoke("--snapshot", str(path), "--policy", str(DEFAULT), "--json")
    document = json.loads(result.stdout)
    assert (result.exit_code, document["findings"], document["orders"]) == (0, [], [])


def test_evaluate_when_bad_policy_then_exit_2_naming_file_and_line(tmp_path: Path) -> None:
    path = snapshot_file(tmp_path, 60000, 50000)
    bad = Path(__file__).parents[1] / "core" / "policy" / "bad" / "zero_reduce.yaml"
    result = invoke("--snapshot", str(path), "--policy", str(bad))
    assert result.exit_code == 2
    assert "zero_reduce.yaml:9" in " ".join(result.stderr.split())


def test_evaluate_when_unknown_venue_then_exit_2(tmp_path: Path) -> None:
    path = snapshot_file(tmp_path, 60000, 50000)
    result = invoke("--snapshot", str(path), "--policy", str(DEFAULT), "--venue", "mtgox")
    assert result.exit_code == 2
    assert "unknown venue" in " ".join(result.stderr.split())


def test_evaluate_when_text_output_then_reasons_printed(tmp_path: Path) -> None:
    path = snapshot_file(tmp_path, 57000, 4000)
    result = invoke("--snapshot", str(path), "--policy", str(DEFAULT))
    assert result.exit_code == 0
    assert "liquidation-ladder" in result.stdout
