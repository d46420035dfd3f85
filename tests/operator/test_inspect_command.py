"""`guard inspect` through the real CLI app (typer CliRunner): JSON shape, errors, exit codes."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from typer.testing import CliRunner

from guard.operator.cli import app
from tests.conftest import shared_path

runner = CliRunner()


def flat(text: str) -> str:
    """Output with rich's line wrapping undone (wrapping happens at spaces)."""
    return " ".join(text.split())


ACCOUNT_KEYS = {"equity", "maintenance_margin", "margin_ratio", "free_collateral", "leverage"}
POSITION_KEYS = {
    "symbol",
    "side",
    "quantity",
    "entry_price",
    "mark_price",
    "liquidation_price",
    "liquidation_distance",
    "maintenance_margin",
    "venue_liquidation_price",
}


def hyperliquid_snapshot(tmp_path: Path) -> Path:
    data = json.loads(
        shared_path("data", "ccxt-static", "hyperliquid", "response.json").read_text()
    )
    (entry,) = [
        e
        for e in data["methods"]["fetchPositions"]
        if e["description"] == "isolated short position"
    ]
    path = tmp_path / "hl.json"
    path.write_text(
        json.dumps(
            {
                "positions": entry["parsedResponse"],
                "balance": {"info": entry["httpResponse"]},
                "markets": {},
                "funding_rates": {},
                "account_info": None,
            }
        )
    )
    return path


def paper_snapshot(tmp_path: Path) -> Path:
    path = tmp_path / "paper.json"
    path.write_text(
        json.dumps(
            {
                "positions": [
                    {
                        "symbol": "BTC/USDT:USDT",
                        "contracts": 0.5,
                        "side": "long",
                        "entryPrice": 60000,
                        "markPrice": 58000,
                    },
                    {
                        "symbol": "ETH/USDT:USDT",
                        "contracts": 2,
                        "side": "short",
                        "entryPrice": 3000,
                        "markPrice": 3000,
                    },
                ],
                "balance": {"USDT": {"total": 5000}},
            }
        )
    )
    return path


def test_inspect_when_json_then_exact_keys_and_decimal_strings(tmp_path: Path):
    result = runner.invoke(
        app,
        [
            "inspect",
            "--venue",
            "hyperliquid",
            "--snapshot",
            str(hyperliquid_snapshot(tmp_path)),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert set(document) == {"account", "positions"}
    assert set(document["account"]) == ACCOUNT_KEYS
    (position,) = document["positions"]
    assert set(position) == POSITION_KEYS
    assert position["side"] == "short" and position["symbol"] == "HYPE/USDC:USDC"
    for key in POSITION_KEYS - {"symbol", "side"}:
        assert isinstance(position[key], str), key
        Decimal(position[key])
    assert abs(Decimal(position["liquidation_price"]) - Decimal("50.2724802381")) < Decimal("1e-6")
    assert position["venue_liquidation_price"] == "50.2724802381"
    assert Decimal(document["account"]["equity"]) == Decimal("76.206517")


def test_inspect_when_unknown_prices_then_null(tmp_path: Path):
    result = runner.invoke(
        app, ["inspect", "--venue", "paper", "--snapshot", str(paper_snapshot(tmp_path)), "--json"]
    )
    assert result.exit_code == 0, result.output
    positions = json.loads(result.stdout)["positions"]
    assert [p["venue_liquidation_price"] for p in positions] == [None, None]
    assert all(p["liquidation_price"] is not None for p in positions)


def test_inspect_when_table_output_then_metrics_and_notes_printed(tmp_path: Path):
    result = runner.invoke(
        app, ["inspect", "--venue", "paper", "--snapshot", str(paper_snapshot(tmp_path))]
    )
    assert result.exit_code == 0, result.output
    assert "margin ratio" in result.stdout and "note: markets missing" in result.stdout


def test_inspect_when_divergent_venue_price_then_alert_printed(tmp_path: Path):
    path = tmp_path / "div.json"
    path.write_text(
        json.dumps(
            {
                "positions": [
                    {
                        "symbol": "BTC/USDT:USDT",
                        "contracts": 1,
                        "side": "long",
                        "entryPrice": 60000,
                        "markPrice": 60000,
                        "liquidationPrice": 30000,
                    }
                ],
                "balance": {"USDT": {"total": 10000}},
            }
        )
    )
    result = runner.invoke(app, ["inspect", "--venue", "paper", "--snapshot", str(path)])
    assert result.exit_code == 0, result.output
    assert "alert:" in result.stdout and "30000" in flat(result.stdout)


def test_inspect_when_unknown_venue_then_exit_2_with_known_venues(tmp_path: Path):
    result = runner.invoke(
        app, ["inspect", "--venue", "kraken", "--snapshot", str(paper_snapshot(tmp_path))]
    )
    assert result.exit_code == 2
    assert "unknown venue 'kraken'" in flat(result.output) and "hyperliquid" in result.output


def test_inspect_when_file_missing_or_not_json_then_exit_2_naming_file(tmp_path: Path):
    missing = runner.invoke(
        app, ["inspect", "--venue", "paper", "--snapshot", str(tmp_path / "nope.json")]
    )
    assert missing.exit_code == 2 and "cannot read the snapshot file" in flat(missing.output)
    bad = tmp_path / "bad.json"
    bad.write_text('{"positions": [\n  oops]}')
    broken = runner.invoke(app, ["inspect", "--venue", "paper", "--snapshot", str(bad)])
    assert broken.exit_code == 2 and "bad.json:2:3: not valid JSON" in flat(broken.output)
    bad.write_text("[1, 2]")
    not_object = runner.invoke(app, ["inspect", "--venue", "paper", "--snapshot", str(bad)])
    assert not_object.exit_code == 2 and "expected a JSON object" in flat(not_object.output)


def test_inspect_when_payload_field_wrong_then_exit_2_naming_path(tmp_path: Path):
    path = tmp_path / "wrong.json"
    path.write_text(
        json.dumps(
            {"positions": [{"symbol": "ETH/USDC:USDC", "info": {"position": {"szi": "abc"}}}]}
        )
    )
    result = runner.invoke(
        app, ["inspect", "--venue", "hyperliquid", "--snapshot", str(path), "--json"]
    )
    assert result.exit_code == 2
    assert "positions[0].info.position.szi" in flat(result.output)


def test_inspect_when_tolerance_invalid_then_exit_2(tmp_path: Path):
    result = runner.invoke(
        app,
        [
            "inspect",
            "--venue",
            "paper",
            "--snapshot",
            str(paper_snapshot(tmp_path)),
            "--tolerance",
            "abc",
        ],
    )
    assert result.exit_code == 2 and "--tolerance" in flat(result.output)
