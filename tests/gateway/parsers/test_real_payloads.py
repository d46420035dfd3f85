"""Every real position payload in ../shared/data/ccxt-static parses into the domain, and where the
venue reported a liquidation price the computed one agrees within a documented tolerance.

Tolerances (relative, |computed − venue| ÷ venue):
* Hyperliquid, complete account: 1e-6. The formula is exact; the residue is the rounding of
  positionValue (the mark is positionValue ÷ |szi|) and of the venue's printed price.
* Hyperliquid, `short position` as ccxt returned it: ccxt filtered the account's ETH long out
  (input symbols = [SOL]), so that position's 38.19 USDC maintenance is missing from the snapshot
  while its PnL is inside accountValue: 0.5 % (it diverges by 0.33 %). Rebuilt from every
  assetPosition of the raw response the same account agrees within 1e-6.
* Binance: 1e-5. positionRisk has no wallet; the wallet comes from the same account's
  /fapi/v2/account payload in the same file (same updateTime), taken at a slightly different
  mark, and maintenance is the venue's maintMargin ÷ notional (no bracket table in the file).
* dYdX: the indexer reports no liquidation price; the parse and the metrics are checked instead.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from guard.core.domain import MarginMode
from guard.core.liquidation_check import cross_check_liquidation
from guard.core.margin import measure
from guard.core.validity import snapshot_problems
from guard.core.venues.registry import rules_for
from guard.gateway.parsers import parse_snapshot
from tests.conftest import shared_path

D = Decimal
AT = datetime(2024, 7, 28, tzinfo=UTC)


def load(venue: str) -> dict[str, Any]:
    path = shared_path("data", "ccxt-static", venue, "response.json")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def entries(data: dict[str, Any]) -> list[dict[str, Any]]:
    methods = data["methods"]
    return list(methods.get("fetchPositions", [])) + list(methods.get("fetchPosition", []))


def as_list(parsed: Any) -> list[dict[str, Any]]:
    return parsed if isinstance(parsed, list) else [parsed]


def check_agreement(venue: str, raw: dict[str, Any], tolerance: Decimal) -> int:
    parsed = parse_snapshot(venue, "real", AT, raw)
    assert snapshot_problems(parsed.snapshot) == ()  # real payloads are fit to act on
    metrics = measure(parsed.snapshot, rules_for(venue))
    checked = 0
    for position in metrics.positions:
        if position.venue_liquidation_price is None:
            continue
        assert position.liquidation_price is not None, position.key
        gap = abs(position.liquidation_price - position.venue_liquidation_price)
        assert gap / position.venue_liquidation_price <= tolerance, (position.key, gap)
        checked += 1
    assert cross_check_liquidation(metrics, tolerance) == ()
    return checked


def test_parse_when_every_hyperliquid_position_payload_then_domain_and_liquidation_agree():
    checked = 0
    for entry in entries(load("hyperliquid")):
        state = entry["httpResponse"]
        positions = as_list(entry["parsedResponse"])
        raw = {"positions": positions, "balance": {"info": state}}
        complete = len(positions) == len(state["assetPositions"])
        parsed = parse_snapshot("hyperliquid", "real", AT, raw)
        for domain, unified in zip(parsed.snapshot.positions, positions, strict=True):
            assert domain.quantity == D(str(unified["contracts"]))
            assert domain.side.value == unified["side"]
            assert domain.margin_mode.value == unified["marginMode"]
        assert any("contractSize" in note or "maxLeverage" in note for note in parsed.notes)
        checked += check_agreement("hyperliquid", raw, D("1e-6") if complete else D("0.005"))
    assert checked == 3  # hip3 isolated long, cross short, isolated short


def test_parse_when_hyperliquid_account_rebuilt_from_all_asset_positions_then_within_1e_6():
    (entry,) = [e for e in entries(load("hyperliquid")) if e["description"] == "short position"]
    state = entry["httpResponse"]
    positions = [
        {"symbol": f"{item['position']['coin']}/USDC:USDC", "info": item}
        for item in state["assetPositions"]
    ]
    raw = {"positions": positions, "balance": {"info": state}}
    assert check_agreement("hyperliquid", raw, D("1e-6")) == 1
    metrics = measure(
        parse_snapshot("hyperliquid", "real", AT, raw).snapshot, rules_for("hyperliquid")
    )
    assert metrics.cross_maintenance_margin == D(state["crossMaintenanceMarginUsed"])
    assert metrics.equity == D(state["marginSummary"]["accountValue"])


def test_parse_when_hyperliquid_subset_then_cross_check_flags_beyond_tight_tolerance():
    """The filtered snapshot misses the ETH position: a tight tolerance must raise an alert."""
    (entry,) = [e for e in entries(load("hyperliquid")) if e["description"] == "short position"]
    raw = {"positions": entry["parsedResponse"], "balance": {"info": entry["httpResponse"]}}
    metrics = measure(
        parse_snapshot("hyperliquid", "real", AT, raw).snapshot, rules_for("hyperliquid")
    )
    (alert,) = cross_check_liquidation(metrics, D("0.001"))
    assert "22881.19788911" in alert.message and alert.symbol == "SOL/USDC:USDC"


def test_parse_when_every_binance_position_payload_then_domain_and_liquidation_agree():
    data = load("binance")
    (account,) = [e for e in entries(data) if "account" in e["description"]]
    checked = 0
    for entry in entries(data):
        positions = as_list(entry["parsedResponse"])
        raw = {"positions": positions, "balance": {"info": account["httpResponse"]}}
        parsed = parse_snapshot("binance", "real", AT, raw)
        assert snapshot_problems(parsed.snapshot) == ()
        (position,) = parsed.snapshot.positions
        assert position.quantity == D("0.009") and position.margin_mode is MarginMode.CROSS
        assert parsed.snapshot.balance.wallet_balance == D("25.72610060")
        assert parsed.snapshot.balance.venue_maintenance_margin == D("2.43034303")
        checked += check_agreement("binance", raw, D("1e-5"))
    assert checked == 2


def test_parse_when_binance_balance_payload_then_cross_wallet_from_raw_not_back_solved():
    (entry,) = load("binance")["methods"]["fetchBalance"]
    parsed = parse_snapshot(
        "binance", "real", AT, {"positions": [], "balance": entry["parsedResponse"]}
    )
    assert parsed.snapshot.balance.wallet_balance == D("31.02261200")
    assert parsed.snapshot.balance.venue_free_collateral == D("31.02261200")


def test_parse_when_dydx_position_payloads_then_oracle_mark_and_equity_from_info():
    data = load("dydx")
    (markets,) = data["methods"]["fetchMarkets"]
    market = markets["parsedResponse"][0]
    (balance,) = data["methods"]["fetchBalance"]
    for entry in entries(data):
        raw = {
            "positions": as_list(entry["parsedResponse"]),
            "balance": balance["parsedResponse"],
            "markets": {market["symbol"]: market},
        }
        parsed = parse_snapshot("dydx", "real", AT, raw)
        assert snapshot_problems(parsed.snapshot) == ()
        (position,) = parsed.snapshot.positions
        assert position.quantity == D("0.407") and position.side.value == "short"
        assert position.mark_price == D("118700.5426")  # the oracle price dYdX margins with
        assert position.accumulated_funding == D("-503.13121")
        metrics = measure(parsed.snapshot, rules_for("dydx"))
        assert metrics.equity == D("161451.040416029")
        assert metrics.positions[0].maintenance_margin == position.notional * D("0.012")
        assert metrics.positions[0].liquidation_price is not None
        assert metrics.positions[0].venue_liquidation_price is None
        assert any("contractSize missing" in note for note in parsed.notes)


@pytest.mark.parametrize("venue", ["hyperliquid", "binance", "dydx"])
def test_load_when_shared_fixture_present_then_has_position_entries(venue: str):
    assert entries(load(venue))
