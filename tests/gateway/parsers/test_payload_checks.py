"""Bad data is refused before evaluation: a Binance positionRisk that contradicts the account
endpoint (USDⓈ-M "Position Information V3" and "Account Information V3" both state
positionAmt per symbol and positionSide), and a snapshot's age measured on the venue's payload
time (premiumIndex `time`, order book `T`), not the read time. Real payloads from
../shared/data/ccxt-static/binance (ccxt's static tests)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from guard.gateway.parsers import PayloadError, parse_snapshot
from tests.gateway.parsers.test_real_payloads import as_list, entries, load

AT = datetime(2024, 7, 28, tzinfo=UTC)


def real_binance() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    data = load("binance")
    (account,) = [e for e in entries(data) if "account" in e["description"]]
    positions = as_list(
        next(e for e in entries(data) if "without symbols" in e["description"])["parsedResponse"]
    )
    return positions, copy.deepcopy(account["httpResponse"])


def test_binance_when_position_risk_agrees_with_account_then_parsed() -> None:
    positions, account = real_binance()
    parsed = parse_snapshot(
        "binance", "real", AT, {"positions": positions, "account_info": account}
    )
    assert len(parsed.snapshot.positions) == 1


def test_binance_when_account_sign_contradicts_position_risk_then_refused_naming_fields() -> None:
    positions, account = real_binance()
    for row in account["positions"]:
        if row["symbol"] == positions[0]["info"]["symbol"]:
            row["positionAmt"] = str(-float(row["positionAmt"]))
    with pytest.raises(PayloadError) as raised:
        parse_snapshot("binance", "real", AT, {"positions": positions, "account_info": account})
    message = str(raised.value)
    assert message.startswith("binance payload positions[0].info.positionAmt")
    assert "account_info.positions[" in message and "contradictory" in message


def test_binance_when_account_shows_a_position_risk_lacks_then_refused() -> None:
    _positions, account = real_binance()
    with pytest.raises(PayloadError, match=r"binance payload positions: .*contradictory"):
        parse_snapshot("binance", "real", AT, {"positions": [], "balance": {"info": account}})


def test_snapshot_when_payload_time_older_than_read_then_taken_at_is_payload_time() -> None:
    positions, account = real_binance()
    symbol = positions[0]["symbol"]
    old = AT - timedelta(minutes=10)
    raw = {
        "positions": positions,
        "account_info": account,
        "funding_rates": {symbol: {"timestamp": int(old.timestamp() * 1000)}},
        "order_books": {symbol: {"timestamp": int(AT.timestamp() * 1000)}},
    }
    parsed = parse_snapshot("binance", "real", AT, raw)
    assert parsed.snapshot.taken_at == old
    assert any("payload time" in note for note in parsed.notes)


def test_snapshot_when_payload_time_newer_than_read_then_read_time_kept() -> None:
    positions, account = real_binance()
    later = int((AT + timedelta(seconds=3)).timestamp() * 1000)
    raw = {
        "positions": positions,
        "account_info": account,
        "order_books": {positions[0]["symbol"]: {"timestamp": later}},
    }
    assert parse_snapshot("binance", "real", AT, raw).snapshot.taken_at == AT


@pytest.mark.parametrize("stamp", ["x", 10**30, -(10**30)])
def test_snapshot_when_payload_time_not_a_time_then_payload_error(stamp: Any) -> None:
    positions, account = real_binance()
    raw = {
        "positions": positions,
        "account_info": account,
        "order_books": {positions[0]["symbol"]: {"timestamp": stamp}},
    }
    with pytest.raises(PayloadError, match=r"order_books\[BTC/USDT:USDT\]\.timestamp"):
        parse_snapshot("binance", "real", AT, raw)
