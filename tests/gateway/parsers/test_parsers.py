"""The ccxt → domain parsers: venue fallbacks for ccxt's holes and clear errors on bad payloads."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from guard.core.domain import MarginMode, Side
from guard.core.margin import measure
from guard.core.venues.registry import rules_for
from guard.gateway.parsers import PayloadError, parse_snapshot
from tests.builders import T0

D = Decimal


def bybit_position(**info: Any) -> dict[str, Any]:
    base = {
        "symbol": "BTCUSDT",
        "side": "Buy",
        "size": "0.5",
        "avgPrice": "60000",
        "markPrice": "59000",
        "liqPrice": "48500",
        "positionIM": "3000",
        "positionMM": "147.5",
        "positionBalance": "",
        "leverage": "10",
        "positionIdx": 0,
        "tradeMode": 0,
        "positionValue": "29500",
    }
    base.update(info)
    return {
        "symbol": "BTC/USDT:USDT",
        "contracts": 0.5,
        "contractSize": 1,
        "marginMode": None,
        "info": base,
    }


BYBIT_BALANCE = {
    "info": {
        "result": {
            "list": [
                {
                    "totalEquity": "10500",
                    "totalMaintenanceMargin": "147.5",
                    "totalAvailableBalance": "7000",
                    "coin": [{"coin": "USDT", "walletBalance": "11000"}],
                }
            ]
        }
    },
    "USDT": {"total": 11000},
}


def test_parse_when_bybit_margin_mode_none_then_taken_from_account_info():
    raw = {
        "positions": [bybit_position()],
        "balance": BYBIT_BALANCE,
        "account_info": {"result": {"marginMode": "ISOLATED_MARGIN"}},
    }
    parsed = parse_snapshot("bybit", "a", T0, raw)
    (position,) = parsed.snapshot.positions
    assert position.margin_mode is MarginMode.ISOLATED
    assert position.isolated_margin == D(3000)  # positionBalance empty → positionIM (noted)
    assert any("positionIM" in note for note in parsed.notes)
    # UTA keeps isolated margin inside walletBalance: the cross wallet excludes it
    assert parsed.snapshot.balance.wallet_balance == D(8000)
    assert parsed.snapshot.balance.venue_maintenance_margin == D("147.5")


def test_parse_when_bybit_without_account_info_then_payload_error_not_deprecated_trade_mode():
    # tradeMode is deprecated and always 0 on unified accounts (bybit docs position.mdx): an
    # isolated position would read as cross, so the mode must come from /v5/account/info
    with pytest.raises(PayloadError, match=r"account_info\.result\.marginMode: expected the"):
        parse_snapshot(
            "bybit", "a", T0, {"positions": [bybit_position()], "balance": BYBIT_BALANCE}
        )


def test_parse_when_bybit_regular_margin_then_cross_with_derived_maintenance():
    raw = {
        "positions": [bybit_position(tradeMode=1)],
        "balance": BYBIT_BALANCE,
        "account_info": {"result": {"marginMode": "REGULAR_MARGIN"}},
    }
    parsed = parse_snapshot("bybit", "a", T0, raw)
    assert parsed.snapshot.positions[0].margin_mode is MarginMode.CROSS
    metrics = measure(parsed.snapshot, rules_for("bybit"))
    assert metrics.positions[0].maintenance_margin == D("147.5")  # derived rate, exact at mark


def test_parse_when_bybit_account_mode_unknown_then_payload_error_names_path():
    raw = {
        "positions": [bybit_position()],
        "balance": BYBIT_BALANCE,
        "account_info": {"marginMode": "X"},
    }
    with pytest.raises(
        PayloadError,
        match=r"bybit payload account_info\.result\.marginMode: expected REGULAR_MARGIN, ",
    ):
        parse_snapshot("bybit", "a", T0, raw)


def okx_position(**info: Any) -> dict[str, Any]:
    base = {
        "instId": "BTC-USDT-SWAP",
        "pos": "-250",
        "posSide": "net",
        "mgnMode": "isolated",
        "avgPx": "60000",
        "markPx": "61000",
        "liqPx": "64000",
        "margin": "1500",
        "mmr": "61",
        "lever": "10",
    }
    base.update(info)
    return {"symbol": "BTC/USDT:USDT", "contracts": 250, "contractSize": 0.01, "info": base}


def test_parse_when_okx_contracts_then_base_units_via_ctval():
    raw = {
        "positions": [okx_position()],
        "balance": {
            "info": {
                "data": [{"details": [{"ccy": "USDT", "eq": "5000", "isoEq": "1250", "mmr": "0"}]}]
            }
        },
    }
    parsed = parse_snapshot("okx", "a", T0, raw)
    (position,) = parsed.snapshot.positions
    assert (position.side, position.quantity) == (Side.SHORT, D("2.5"))
    assert position.isolated_margin == D(1500)
    assert parsed.snapshot.balance.wallet_balance == D(3750)
    metrics = measure(parsed.snapshot, rules_for("okx"))
    # OKX liquidates at equity <= MM + fee: mmr 61 + taker 0.0005 (default, market missing)
    # × notional 2.5 × 61000 = 61 + 76.25
    assert metrics.positions[0].maintenance_margin == D("137.25")


def test_parse_when_okx_contract_size_missing_then_market_contract_size_noted():
    position = okx_position()
    position["contractSize"] = None
    raw = {
        "positions": [position],
        "balance": {"USDT": {"total": 5000}},
        "markets": {
            "BTC/USDT:USDT": {"contractSize": 0.01, "precision": {"amount": 1, "price": 0.1}}
        },
    }
    parsed = parse_snapshot("okx", "a", T0, raw)
    assert parsed.snapshot.positions[0].quantity == D("2.5")
    assert parsed.snapshot.markets["BTC/USDT:USDT"].amount_step == D("0.01")
    assert (
        "contractSize missing in position BTC/USDT:USDT, used market contractSize 0.01"
        in parsed.notes
    )


def test_parse_when_binance_isolated_position_then_isolated_wallet_is_margin():
    position = {
        "symbol": "ETH/USDT:USDT",
        "marginMode": "isolated",
        "info": {
            "positionAmt": "-2",
            "entryPrice": "3000",
            "markPrice": "3100",
            "isolatedWallet": "600",
            "liquidationPrice": "0",
            "maintMargin": "31",
            "positionSide": "BOTH",
            "leverage": "10",
        },
    }
    raw = {"positions": [position], "balance": {"info": {"totalCrossWalletBalance": "1000"}}}
    parsed = parse_snapshot("binance", "a", T0, raw)
    (domain,) = parsed.snapshot.positions
    assert domain.margin_mode is MarginMode.ISOLATED and domain.isolated_margin == D(600)
    assert domain.venue_liquidation_price is None  # Binance prints 0 for "none"
    assert domain.side is Side.SHORT and not domain.hedged


def test_parse_when_binance_wallet_field_missing_then_fallback_noted():
    position = {
        "symbol": "ETH/USDT:USDT",
        "marginMode": "cross",
        "info": {
            "positionAmt": "1",
            "entryPrice": "3000",
            "markPrice": "3100",
            "maintMargin": "15.5",
        },
    }
    raw = {"positions": [position], "balance": {"USDT": {"total": 1100}}}
    parsed = parse_snapshot("binance", "a", T0, raw)
    assert parsed.snapshot.balance.wallet_balance == D(1000)
    assert any("totalCrossWalletBalance missing" in note for note in parsed.notes)


def dydx_raw(subaccount: int, account_info: Any = None) -> dict[str, Any]:
    return {
        "positions": [
            {
                "symbol": "ETH/USDC:USDC",
                "contractSize": None,
                "info": {
                    "market": "ETH-USD",
                    "size": "2",
                    "entryPrice": "3000",
                    "unrealizedPnl": "200",
                    "subaccountNumber": subaccount,
                },
            }
        ],
        "balance": {"info": {"equity": "5000", "freeCollateral": "4000"}, "USDC": {"free": 4000}},
        "markets": {
            "ETH/USDC:USDC": {
                "contractSize": None,
                "info": {
                    "oraclePrice": "3100",
                    "initialMarginFraction": "0.05",
                    "maintenanceMarginFraction": "0.03",
                    "openInterestLowerCap": "0",
                    "openInterestUpperCap": "0",
                    "nextFundingRate": "0.00001",
                },
            }
        },
        "account_info": account_info,
    }


def test_parse_when_dydx_child_subaccount_then_isolated_margin_from_child_equity():
    info = {"subaccount": {"childSubaccounts": [{"subaccountNumber": 128, "equity": "700"}]}}
    parsed = parse_snapshot("dydx", "a", T0, dydx_raw(128, info))
    (position,) = parsed.snapshot.positions
    assert position.margin_mode is MarginMode.ISOLATED
    assert position.isolated_margin == D(500)  # 700 − 2 × (3100 − 3000)
    metrics = measure(parsed.snapshot, rules_for("dydx"))
    assert metrics.positions[0].funding_per_interval == D(2) * D(3100) * D("0.00001")


def test_parse_when_dydx_child_subaccount_unknown_then_payload_error():
    with pytest.raises(PayloadError, match="expected the equity of child subaccount 256"):
        parse_snapshot("dydx", "a", T0, dydx_raw(256))


@pytest.mark.parametrize(
    ("venue", "raw", "message"),
    [
        (
            "hyperliquid",
            {"positions": [{"symbol": "ETH/USDC:USDC", "info": {"position": {"szi": "x"}}}]},
            r"hyperliquid payload positions\[0\]\.info\.position\.szi: expected a signed size, got 'x'",
        ),
        (
            "hyperliquid",
            {"positions": [{"symbol": "ETH/USDC:USDC"}]},
            r"positions\[0\]\.info: expected an object, got None",
        ),
        ("binance", {"positions": {"a": 1}}, r"binance payload positions: expected a list"),
        (
            "binance",
            {"positions": [{"info": {}}]},
            r"positions\[0\]\.symbol: expected a non-empty string",
        ),
        ("paper", {"positions": [], "balance": {}}, r"paper payload balance\.USDT\.total"),
        ("okx", {"markets": [1]}, r"okx payload markets: expected an object keyed by symbol"),
        ("kraken", {}, r"kraken payload venue: expected a known venue"),
        (
            "dydx",
            {"positions": [], "balance": {"USDC": {"free": 1}}},
            r"dydx payload balance\.info\.equity",
        ),
    ],
)
def test_parse_when_bad_payload_then_payload_error_names_venue_and_path(
    venue: str, raw: Any, message: str
):
    with pytest.raises(PayloadError, match=message):
        parse_snapshot(venue, "a", T0, raw)


def test_parse_when_position_duplicated_then_payload_error():
    one = {
        "symbol": "BTC/USDT:USDT",
        "contracts": 1,
        "side": "long",
        "entryPrice": 1,
        "markPrice": 1,
    }
    with pytest.raises(PayloadError, match="at most one position per symbol and side"):
        parse_snapshot(
            "paper", "a", T0, {"positions": [one, one], "balance": {"USDT": {"total": 1}}}
        )


def test_parse_when_optional_parts_missing_then_each_noted():
    parsed = parse_snapshot("paper", "a", T0, {"balance": {"USDT": {"total": 100}}})
    for part in ("positions", "markets", "funding_rates", "account_info"):
        assert any(note.startswith(part) for note in parsed.notes), part
    assert parsed.snapshot.positions == ()
    assert parsed.snapshot.balance.wallet_balance == D(100)


def test_parse_when_funding_rate_dict_then_rate_interval_and_index_used():
    position = {
        "symbol": "BTC/USDT:USDT",
        "contracts": 1,
        "side": "long",
        "entryPrice": 100,
        "markPrice": 110,
    }
    raw = {
        "positions": [position, {**position, "contracts": 0}],
        "balance": {"total": {"USDT": 1000}},
        "funding_rates": {
            "BTC/USDT:USDT": {
                "fundingRate": 0.0001,
                "indexPrice": 109,
                "interval": "4h",
                "fundingTimestamp": 1722153600000,
            }
        },
    }
    parsed = parse_snapshot("paper", "a", T0, raw)
    assert parsed.snapshot.markets["BTC/USDT:USDT"].funding_interval.total_seconds() == 4 * 3600
    data = parsed.snapshot.market_data["BTC/USDT:USDT"]
    assert (data.funding_rate, data.index_price) == (D("0.0001"), D(109))
    assert "1 position entry skipped (zero size or not guarded)" in parsed.notes
    assert parsed.snapshot.balance.wallet_balance == D(990)


def test_parse_when_binance_leverage_tiers_supplied_then_bracket_table_used():
    """ccxt's fetchLeverageTiers keeps each raw bracket row in `info`."""
    from tests.core.venues.examples import BTC_BRACKETS

    position = {
        "symbol": "BTC/USDT:USDT",
        "marginMode": "cross",
        "info": {
            "positionAmt": "20",
            "entryPrice": "30000",
            "markPrice": "30000",
            "maintMargin": "1",
        },
    }
    raw = {
        "positions": [position],
        "balance": {"info": {"totalCrossWalletBalance": "100000"}},
        "leverage_tiers": {
            "BTC/USDT:USDT": [{"tier": i + 1, "info": row} for i, row in enumerate(BTC_BRACKETS)]
        },
    }
    parsed = parse_snapshot("binance", "a", T0, raw)
    metrics = measure(parsed.snapshot, rules_for("binance"))
    assert metrics.positions[0].maintenance_margin == D(600000) * D("0.01") - D(1300)
    assert not any("no tier table" in note for note in parsed.notes)


def test_parse_when_bybit_leverage_tiers_malformed_then_payload_error_names_tiers():
    raw = {
        "positions": [bybit_position()],
        "balance": BYBIT_BALANCE,
        "account_info": {"result": {"marginMode": "REGULAR_MARGIN"}},
        "leverage_tiers": {"BTC/USDT:USDT": [{"info": {"riskLimitValue": "x"}}]},
    }
    with pytest.raises(
        PayloadError,
        match=r"bybit payload leverage_tiers\['BTC/USDT:USDT'\]: expected Bybit risk-limit rows",
    ):
        parse_snapshot("bybit", "a", T0, raw)


def test_parse_when_bybit_market_has_funding_interval_minutes_then_used():
    raw = {
        "positions": [bybit_position()],
        "balance": BYBIT_BALANCE,
        "account_info": {"result": {"marginMode": "REGULAR_MARGIN"}},
        "markets": {"BTC/USDT:USDT": {"contractSize": 1, "info": {"fundingInterval": 240}}},
    }
    parsed = parse_snapshot("bybit", "a", T0, raw)
    assert parsed.snapshot.markets["BTC/USDT:USDT"].funding_interval.total_seconds() == 4 * 3600
