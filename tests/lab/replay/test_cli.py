"""`guard replay`, `guard scenario` and `guard history` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from guard.operator.cli import app

ROOT = Path(__file__).resolve().parents[3]
POLICY = str(ROOT / "policies" / "default.yaml")


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, " ".join(result.stderr.split())


def test_replay_when_scenario_and_json_then_three_runs_chart_audit_and_report(
    tmp_path: Path,
) -> None:
    code, out, err = invoke(
        "replay", "--scenario", "flash-crash", "--policy", POLICY, "--out", str(tmp_path), "--json"
    )
    assert code == 0, err
    report = json.loads(out)
    assert set(report["runs"]) == {
        "unguarded",
        "guarded",
        "stop_loss",
        "stop_half_liq",
        "liq_buffer",
    }
    for figures in report["runs"].values():
        assert {
            "liquidations",
            "min_equity",
            "final_equity",
            "max_drawdown",
            "funding_paid",
            "fees_and_slippage",
            "orders",
        } <= set(figures)
        assert figures["reconciliation_error"] == "0.00"
    assert report["runs"]["unguarded"]["liquidations"] == 1
    assert report["runs"]["guarded"]["liquidations"] == 0
    assert (tmp_path / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "audit.db").exists()
    assert json.loads((tmp_path / "report.json").read_text())["runs"] == report["runs"]


def test_replay_when_csv_history_then_table_printed(tmp_path: Path) -> None:
    candles = tmp_path / "BTCUSDT_1m.csv"
    rows = ["timestamp_ms,open,high,low,close,volume"]
    price = 60000
    for minute in range(30):
        step = -400 if 10 <= minute < 20 else 0
        rows.append(
            f"{1722816000000 + 60000 * minute},{price},{price + 50},{price + step - 50},{price + step},1"
        )
        price += step
    candles.write_text("\n".join(rows) + "\n", encoding="utf-8")
    portfolio = tmp_path / "portfolio.yaml"
    portfolio.write_text(
        "collateral: 10000\npositions:\n"
        "  - {symbol: BTCUSDT, side: long, quantity: 1.5, entry_price: 60000, leverage: 10x}\n",
        encoding="utf-8",
    )
    code, out, err = invoke(
        "replay",
        "--candles",
        str(candles),
        "--portfolio",
        str(portfolio),
        "--policy",
        POLICY,
        "--tick",
        "1m",
        "--stop-loss",
        "3%",
        "--out",
        str(tmp_path / "out"),
    )
    assert code == 0, err
    text = " ".join(out.split())
    assert "guard replay" in text and "unguarded" in text and "stop_loss" in text
    assert (tmp_path / "out" / "chart.png").exists()


def test_replay_when_candle_file_is_bad_then_exit_2_with_file_line_column(tmp_path: Path) -> None:
    candles = tmp_path / "BTCUSDT.csv"
    candles.write_text(
        "timestamp_ms,open,high,low,close,volume\n1722816000000,x,1,1,1,1\n", encoding="utf-8"
    )
    portfolio = tmp_path / "p.yaml"
    portfolio.write_text(
        "collateral: 100\npositions:\n  - {symbol: BTCUSDT, side: long, quantity: 1, entry_price: 1, leverage: 2}\n",
        encoding="utf-8",
    )
    code, _, err = invoke(
        "replay", "--candles", str(candles), "--portfolio", str(portfolio), "--policy", POLICY
    )
    assert code == 2
    assert f"{candles}:2: open: must be a decimal number" in err


def test_replay_when_portfolio_symbol_has_no_candles_then_exit_2_naming_it(tmp_path: Path) -> None:
    candles = tmp_path / "ETHUSDT.csv"
    candles.write_text(
        "timestamp_ms,open,high,low,close,volume\n1722816000000,1,1,1,1,1\n", encoding="utf-8"
    )
    portfolio = tmp_path / "p.yaml"
    portfolio.write_text(
        "collateral: 100\npositions:\n  - {symbol: BTCUSDT, side: long, quantity: 1, entry_price: 1, leverage: 2}\n",
        encoding="utf-8",
    )
    code, _, err = invoke(
        "replay", "--candles", str(candles), "--portfolio", str(portfolio), "--policy", POLICY
    )
    assert code == 2 and "holds BTC/USDT:USDT but no --candles file is for it" in err


def test_replay_when_scenario_and_candles_both_given_then_exit_2() -> None:
    code, _, err = invoke("replay", "--scenario", "crash", "--candles", "x.csv", "--policy", POLICY)
    assert code == 2 and "--scenario replaces" in err


def test_scenario_list_and_show_when_called_then_names_and_path_facts() -> None:
    code, out, _ = invoke("scenario", "list", "--json")
    assert code == 0
    assert {"crash", "flash-crash", "funding-spike"} <= {e["name"] for e in json.loads(out)}
    code, out, _ = invoke("scenario", "show", "short-squeeze", "--json")
    facts = json.loads(out)
    assert code == 0 and facts["positions"][0]["side"] == "short"
    sol = facts["symbols"]["SOL/USDT:USDT"]
    assert float(sol["high"]) > 1.3 * float(sol["start"])


def test_scenario_show_when_unknown_then_exit_2_listing_known() -> None:
    code, _, err = invoke("scenario", "show", "tsunami")
    assert code == 2 and "known scenarios" in err


def test_history_download_when_time_is_malformed_then_exit_2_before_any_request() -> None:
    code, _, err = invoke(
        "history",
        "download",
        "--venue",
        "binance",
        "--symbol",
        "BTC/USDT:USDT",
        "--since",
        "last week",
        "--until",
        "2024-08-02",
    )
    assert code == 2 and "a time looks like" in err


def test_history_download_when_venue_unknown_then_exit_2_listing_venues() -> None:
    code, _, err = invoke(
        "history",
        "download",
        "--venue",
        "mtgox",
        "--symbol",
        "BTC/USDT:USDT",
        "--since",
        "2024-08-01",
        "--until",
        "2024-08-02",
    )
    assert code == 2 and "known venues" in err


def test_replay_when_tick_or_stop_loss_invalid_then_exit_2() -> None:
    code, _, err = invoke("replay", "--scenario", "crash", "--tick", "0s", "--policy", POLICY)
    assert code == 2 and "--tick must be a positive duration" in err
    code, _, err = invoke("replay", "--scenario", "crash", "--stop-loss", "0%", "--policy", POLICY)
    assert code == 2 and "--stop-loss must be between 0% and 100%" in err
