"""Every account mode of every venue is handled exactly or refused with a message naming the venue,
the payload field, its value and what guard supports (issue 14). Payloads are the real ccxt
recordings in ../shared/data (skipped visibly when absent) or shaped as the venue documents them
(each test cites the page)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from guard.core.domain import MarginMode
from guard.core.margin import measure
from guard.core.venues.registry import rules_for
from guard.gateway.base import PermanentError, UnsupportedAccountMode
from guard.gateway.parsers import parse_snapshot
from tests.conftest import shared_path

D = Decimal
AT = datetime(2025, 7, 29, tzinfo=UTC)


def real(venue: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        shared_path("data", "ccxt-static", venue, "response.json").read_text()
    )
    return data


# ------------------------------------------------------------------------------------------ dYdX


def dydx_real_snapshot(subaccount: int, subaccounts: list[dict[str, Any]]) -> dict[str, Any]:
    """The real BTC-USD short (fetchPositions) held in `subaccount`, with the real market."""
    data = real("dydx")
    (entry,) = data["methods"]["fetchPositions"]
    (position,) = copy.deepcopy(entry["parsedResponse"])
    position["info"]["subaccountNumber"] = subaccount
    (markets,) = data["methods"]["fetchMarkets"]
    market = markets["parsedResponse"][0]
    return {
        "positions": [position],
        "balance": None,
        "markets": {market["symbol"]: market},
        "account_info": {"subaccounts": subaccounts, "totalTradingRewards": "0"},
    }


def test_parse_when_dydx_real_position_in_child_subaccount_then_isolated_pool_of_that_child():
    # GET /v4/addresses/{address} lists every subaccount (docs.dydx.xyz/indexer-client/http,
    # "Get Subaccounts"); children >= 128 hold isolated positions (isolated-positions.md)
    raw = dydx_real_snapshot(
        128,
        [
            {"subaccountNumber": 0, "equity": "161451.040416029", "freeCollateral": "152508"},
            {"subaccountNumber": 128, "equity": "9000", "freeCollateral": "8000"},
        ],
    )
    parsed = parse_snapshot("dydx", "real", AT, raw)
    (position,) = parsed.snapshot.positions
    assert position.margin_mode is MarginMode.ISOLATED
    # posted margin = the child's equity − uPnL at the oracle price
    upnl = -(D("118700.5426") - D("118692.04840909090909090909")) * D("0.407")
    assert position.isolated_margin == D(9000) - upnl
    # the cross pool is subaccount 0 alone, not the parent total
    assert parsed.snapshot.balance.venue_equity == D("161451.040416029")
    metrics = measure(parsed.snapshot, rules_for("dydx"))
    assert metrics.positions[0].liquidation_price is not None


def test_parse_when_dydx_docs_isolated_example_then_liquidation_price_matches():
    # DY-docs liquidations "isolated" example: e = 1000, s = −3 ETH, p = 3000, MMF 5 %
    # -> p' = (e − s·p)/(|s|·MMF − s) = 10000/3.15 ≈ 3174.60
    raw = {
        "positions": [
            {
                "symbol": "ETH/USD:USDC",
                "contracts": 3,
                "info": {
                    "market": "ETH-USD",
                    "size": "-3",
                    "entryPrice": "3000",
                    "unrealizedPnl": "0",
                    "subaccountNumber": 256,
                },
            }
        ],
        "markets": {
            "ETH/USD:USDC": {
                "contractSize": 1,
                "info": {
                    "oraclePrice": "3000",
                    "initialMarginFraction": "0.1",
                    "maintenanceMarginFraction": "0.05",
                },
            }
        },
        "account_info": {
            "subaccounts": [{"subaccountNumber": 256, "equity": "1000"}],
        },
    }
    parsed = parse_snapshot("dydx", "docs", AT, raw)
    metrics = measure(parsed.snapshot, rules_for("dydx"))
    price = metrics.positions[0].liquidation_price
    assert price is not None and abs(price - D(10000) / D("3.15")) < D("0.01")
    assert parsed.snapshot.balance.venue_equity == D(0)  # no subaccount 0: nothing is cross


def test_parse_when_dydx_position_in_second_parent_subaccount_then_refused_with_reason():
    raw = dydx_real_snapshot(3, [{"subaccountNumber": 3, "equity": "5000"}])
    with pytest.raises(UnsupportedAccountMode) as refused:
        parse_snapshot("dydx", "real", AT, raw)
    assert str(refused.value) == (
        "dydx: unsupported account mode: subaccountNumber = 3 (a second parent (cross) "
        "subaccount holding BTC/USDC:USDC); guard supports cross positions in subaccount 0 and "
        "isolated positions in its child subaccounts (128, 256, ...)"
    )
    assert isinstance(refused.value, PermanentError)


def test_parse_when_dydx_parent_subaccount_payload_then_cross_equity_is_subaccount_zero_only():
    # GET /v4/addresses/{address}/parentSubaccountNumber/0: the parent's equity sums its children
    raw = dydx_real_snapshot(0, [])
    raw["account_info"] = {
        "subaccount": {
            "parentSubaccountNumber": 0,
            "equity": "170451.040416029",
            "childSubaccounts": [
                {"subaccountNumber": 0, "equity": "161451.040416029"},
                {"subaccountNumber": 128, "equity": "9000"},
            ],
        }
    }
    parsed = parse_snapshot("dydx", "real", AT, raw)
    assert parsed.snapshot.positions[0].margin_mode is MarginMode.CROSS
    assert parsed.snapshot.balance.venue_equity == D("161451.040416029")


# ------------------------------------------------------------------------------------------ Bybit


def bybit_position(symbol: str, exchange_symbol: str) -> dict[str, Any]:
    # docs/v5/position/position.mdx (bybit-exchange/docs) response row
    return {
        "symbol": symbol,
        "contracts": 0.5,
        "contractSize": 1,
        "marginMode": None,
        "info": {
            "positionIdx": 0,
            "symbol": exchange_symbol,
            "side": "Buy",
            "size": "0.5",
            "avgPrice": "60000",
            "positionValue": "30000",
            "tradeMode": 0,
            "leverage": "10",
            "markPrice": "59000",
            "liqPrice": "54300",
            "positionIM": "3000",
            "positionMM": "300",
            "positionBalance": "",
        },
    }


BYBIT_WALLET = {
    "info": {
        "result": {
            "list": [
                {
                    "accountType": "UNIFIED",
                    "totalEquity": "10500",
                    "totalMaintenanceMargin": "300",
                    "totalAvailableBalance": "7000",
                    "coin": [
                        {"coin": "USDT", "walletBalance": "11000"},
                        {"coin": "USDC", "walletBalance": "4000"},
                    ],
                }
            ]
        }
    }
}


def bybit_account_info(mode: str, status: int = 4) -> dict[str, Any]:
    # docs/v5/account/account-info.mdx (bybit-exchange/docs): GET /v5/account/info
    return {
        "retCode": 0,
        "retMsg": "OK",
        "result": {
            "marginMode": mode,
            "updatedTime": "1697078946000",
            "unifiedMarginStatus": status,
            "dcpStatus": "OFF",
            "timeWindow": 10,
            "smpGroup": 0,
            "isMasterTrader": False,
            "spotHedgingStatus": "OFF",
        },
    }


def test_parse_when_bybit_isolated_margin_mode_then_position_is_its_own_pool():
    raw = {
        "positions": [bybit_position("BTC/USDT:USDT", "BTCUSDT")],
        "balance": BYBIT_WALLET,
        "account_info": bybit_account_info("ISOLATED_MARGIN"),
    }
    parsed = parse_snapshot("bybit", "a", AT, raw)
    (position,) = parsed.snapshot.positions
    assert position.margin_mode is MarginMode.ISOLATED  # tradeMode 0 is ignored (deprecated)
    assert position.isolated_margin == D(3000)
    assert parsed.snapshot.balance.wallet_balance == D(8000)  # UTA wallet minus isolated margin


def test_parse_when_bybit_usdc_perp_then_usdc_wallet_is_the_collateral():
    raw = {
        "positions": [bybit_position("BTC/USDC:USDC", "BTCPERP")],
        "balance": BYBIT_WALLET,
        "account_info": bybit_account_info("REGULAR_MARGIN"),
    }
    parsed = parse_snapshot("bybit", "a", AT, raw)
    assert parsed.snapshot.balance.currency == "USDC"
    assert parsed.snapshot.balance.wallet_balance == D(4000)
    assert parsed.snapshot.positions[0].margin_mode is MarginMode.CROSS


def test_parse_when_bybit_portfolio_margin_then_refused_with_reason():
    raw = {
        "positions": [bybit_position("BTC/USDT:USDT", "BTCUSDT")],
        "balance": BYBIT_WALLET,
        "account_info": bybit_account_info("PORTFOLIO_MARGIN"),
    }
    with pytest.raises(UnsupportedAccountMode) as refused:
        parse_snapshot("bybit", "a", AT, raw)
    assert str(refused.value).startswith(
        "bybit: unsupported account mode: marginMode = 'PORTFOLIO_MARGIN' (portfolio margin: "
        "per-position IM/MM/liqPrice are empty and risk limits do not apply); guard supports "
        "unified trading accounts in REGULAR_MARGIN (cross) or ISOLATED_MARGIN"
    )


def test_parse_when_bybit_classic_account_then_refused_with_reason():
    raw = {
        "positions": [bybit_position("BTC/USDT:USDT", "BTCUSDT")],
        "balance": BYBIT_WALLET,
        "account_info": bybit_account_info("REGULAR_MARGIN", status=1),
    }
    with pytest.raises(UnsupportedAccountMode, match=r"unifiedMarginStatus = 1 \(a classic"):
        parse_snapshot("bybit", "a", AT, raw)


def test_parse_when_bybit_usdt_and_usdc_positions_then_refused_with_reason():
    raw = {
        "positions": [
            bybit_position("BTC/USDT:USDT", "BTCUSDT"),
            bybit_position("BTC/USDC:USDC", "BTCPERP"),
        ],
        "balance": BYBIT_WALLET,
        "account_info": bybit_account_info("REGULAR_MARGIN"),
    }
    with pytest.raises(
        UnsupportedAccountMode,
        match=r"positions\[\]\.symbol settle coin = \['USDC', 'USDT'\] \(positions settled in more",
    ):
        parse_snapshot("bybit", "a", AT, raw)


# -------------------------------------------------------------------------------------------- OKX


def okx_position(inst_id: str, symbol: str, **info: Any) -> dict[str, Any]:
    # GET /api/v5/account/positions row (fields as ccxt's okx.parse_position reads them)
    base = {
        "instType": "SWAP",
        "instId": inst_id,
        "pos": "50",
        "posSide": "net",
        "mgnMode": "isolated",
        "avgPx": "60000",
        "markPx": "60000",
        "liqPx": "",
        "margin": "3000",
        "mmr": "12",
        "lever": "10",
    }
    base.update(info)
    return {"symbol": symbol, "contracts": 50, "contractSize": 0.01, "info": base}


def okx_config(level: str) -> dict[str, Any]:
    # GET /api/v5/account/config response (OKX v5 API "Get account configuration")
    return {"code": "0", "msg": "", "data": [{"acctLv": level, "posMode": "net_mode"}]}


OKX_BALANCE = {
    "info": {"data": [{"details": [{"ccy": "USDT", "eq": "13000", "isoEq": "3000"}]}]},
}
OKX_MARKET = {"BTC/USDT:USDT": {"contractSize": 0.01, "taker": 0.0005}}


@pytest.mark.parametrize(
    ("level", "meaning"),
    [
        ("1", "simple (spot) mode"),
        ("3", "multi-currency margin"),
        ("4", "portfolio margin"),
    ],
)
def test_parse_when_okx_account_level_not_single_currency_then_refused(level: str, meaning: str):
    raw = {
        "positions": [okx_position("BTC-USDT-SWAP", "BTC/USDT:USDT")],
        "balance": OKX_BALANCE,
        "markets": OKX_MARKET,
        "account_info": okx_config(level),
    }
    with pytest.raises(UnsupportedAccountMode) as refused:
        parse_snapshot("okx", "a", AT, raw)
    assert str(refused.value).startswith(
        f"okx: unsupported account mode: acctLv = '{level}' ({meaning}"
    )
    assert str(refused.value).endswith(
        "guard supports acctLv 2 (single-currency margin) with USDT-margined swaps (cross or "
        "isolated, net or long/short mode)"
    )


def test_parse_when_okx_coin_margined_swap_beside_usdt_swap_then_skipped_with_note():
    raw = {
        "positions": [
            okx_position("BTC-USDT-SWAP", "BTC/USDT:USDT"),
            okx_position("BTC-USD-SWAP", "BTC/USD:BTC", ccy="BTC"),
        ],
        "balance": OKX_BALANCE,
        "markets": OKX_MARKET,
        "account_info": okx_config("2"),
    }
    parsed = parse_snapshot("okx", "a", AT, raw)
    assert [p.symbol for p in parsed.snapshot.positions] == ["BTC/USDT:USDT"]
    assert any(n.startswith("BTC/USD:BTC (SWAP) not guarded") for n in parsed.notes)


def test_liquidation_when_okx_isolated_long_then_fee_term_included():
    # OKX: liquidation when equity <= MM + fee, i.e. (margin + upl) = |contracts|·ctVal·mark·
    # (MMR + fee rate) (venues.md §6.2). Long 0.5 BTC @ 60000, margin 3000, MMR 0.0004 (mmr 12 at
    # notional 30000), taker 0.0005: 3000 + 0.5(p − 60000) = 0.5·p·0.0009
    # -> p = 27000 / 0.49955 = 54048.6438...
    raw = {
        "positions": [okx_position("BTC-USDT-SWAP", "BTC/USDT:USDT")],
        "balance": OKX_BALANCE,
        "markets": OKX_MARKET,
        "account_info": okx_config("2"),
    }
    parsed = parse_snapshot("okx", "a", AT, raw)
    metrics = measure(parsed.snapshot, rules_for("okx"))
    price = metrics.positions[0].liquidation_price
    assert price is not None
    assert abs(price - D(27000) / D("0.49955")) < D("0.000001")
    assert metrics.positions[0].maintenance_margin == D("27.0")  # 12 + 30000 × 0.0005


# ---------------------------------------------------------------------------------- Hyperliquid


def hl_raw(account_info: Any) -> dict[str, Any]:
    data = real("hyperliquid")
    entry = next(
        e for e in data["methods"]["fetchPositions"] if e["description"] == "fetch positions"
    )
    return {
        "positions": entry["parsedResponse"],
        "balance": {"info": entry["httpResponse"]},
        "account_info": account_info,
    }


@pytest.mark.parametrize("mode", ["unifiedAccount", "portfolioMargin", "dexAbstraction"])
def test_parse_when_hyperliquid_abstraction_not_standard_then_refused(mode: str):
    # info endpoint "Query a user's abstraction state" ({"type": "userAbstraction"}), values as
    # ccxt 4.5.90 documents them: unifiedAccount | portfolioMargin | disabled | default |
    # dexAbstraction
    state = real("hyperliquid")["methods"]["fetchPositions"][0]["httpResponse"]
    raw = hl_raw({"clearinghouseState": state, "userAbstraction": mode, "dexStates": {}})
    with pytest.raises(UnsupportedAccountMode) as refused:
        parse_snapshot("hyperliquid", "a", AT, raw)
    assert str(refused.value).startswith(
        f"hyperliquid: unsupported account mode: userAbstraction = '{mode}' ("
    )
    assert "guard supports the standard account" in str(refused.value)


def test_parse_when_hyperliquid_standard_account_then_parsed_from_real_state():
    state = real("hyperliquid")["methods"]["fetchPositions"][0]["httpResponse"]
    raw = hl_raw({"clearinghouseState": state, "userAbstraction": "default", "dexStates": {}})
    parsed = parse_snapshot("hyperliquid", "a", AT, raw)
    assert len(parsed.snapshot.positions) == len(state["assetPositions"])


def test_parse_when_hyperliquid_position_on_hip3_dex_then_refused_naming_the_dex():
    data = real("hyperliquid")
    hip3 = next(
        e for e in data["methods"]["fetchPositions"] if e["description"] == "fetch hip3 positions"
    )
    state = data["methods"]["fetchPositions"][0]["httpResponse"]
    coin = hip3["httpResponse"]["assetPositions"][0]["position"]["coin"]
    raw = hl_raw(
        {
            "clearinghouseState": state,
            "userAbstraction": "default",
            "dexStates": {"xyz": hip3["httpResponse"]},
        }
    )
    with pytest.raises(UnsupportedAccountMode) as refused:
        parse_snapshot("hyperliquid", "a", AT, raw)
    assert str(refused.value).startswith(
        "hyperliquid: unsupported account mode: clearinghouseState(dex='xyz').assetPositions = "
        f"[{coin!r}] (positions on a builder-deployed (HIP-3) perp DEX"
    )


def test_maintenance_when_hyperliquid_margin_table_has_two_tiers_then_second_tier_applies():
    # HL docs trading/margin-tiers.md: BTC 0-150M at 40x, above 150M at 20x; mmr = 1/(2·lev),
    # deduction(1) = 150M × (0.025 − 0.0125) = 1.875M. A 4,000 BTC long at 50,000 (200M):
    # MM = 200M × 0.025 − 1.875M = 3.125M (one tier from maxLeverage 40 would say 2.5M)
    state = {
        "assetPositions": [
            {
                "position": {
                    "coin": "BTC",
                    "szi": "4000",
                    "entryPx": "50000",
                    "positionValue": "200000000",
                    "unrealizedPnl": "0",
                    "marginUsed": "5000000",
                    "liquidationPx": None,
                    "maxLeverage": 40,
                    "leverage": {"type": "cross", "value": 40},
                },
                "type": "oneWay",
            }
        ],
        "crossMarginSummary": {"accountValue": "10000000"},
        "marginSummary": {"accountValue": "10000000"},
        "crossMaintenanceMarginUsed": "3125000",
        "withdrawable": "0",
    }
    tiers = [
        {"lowerBound": "0.0", "maxLeverage": 40},
        {"lowerBound": "150000000.0", "maxLeverage": 20},
    ]
    raw = {
        "positions": [
            {"symbol": "BTC/USDC:USDC", "contracts": 4000, "info": state["assetPositions"][0]}
        ],
        "balance": {"info": state},
        "markets": {
            "BTC/USDC:USDC": {
                "contractSize": 1,
                "info": {
                    "name": "BTC",
                    "maxLeverage": 40,
                    "marginTableId": 56,
                    "marginTiers": tiers,
                },
            }
        },
        "account_info": {"clearinghouseState": state, "userAbstraction": "default"},
    }
    parsed = parse_snapshot("hyperliquid", "a", AT, raw)
    metrics = measure(parsed.snapshot, rules_for("hyperliquid"))
    assert metrics.positions[0].maintenance_margin == D("3125000")


# -------------------------------------------------------------------------------------- Binance


def binance_account_raw(multi_assets: bool) -> dict[str, Any]:
    data = real("binance")
    entry = next(
        e
        for e in data["methods"]["fetchPositions"]
        if e["description"] == "Fetch linear positions using account endnpoint"
    )
    account = copy.deepcopy(entry["httpResponse"])
    account["multiAssetsMargin"] = multi_assets
    return {"positions": entry["parsedResponse"], "balance": None, "account_info": account}


def test_parse_when_binance_real_account_single_asset_then_handled():
    parsed = parse_snapshot("binance", "a", AT, binance_account_raw(False))
    assert parsed.snapshot.positions


def test_parse_when_binance_multi_assets_mode_then_refused_with_reason():
    # GET /fapi/v2/account carries "multiAssetsMargin" (Binance USDⓈ-M "Account Information V2")
    with pytest.raises(UnsupportedAccountMode) as refused:
        parse_snapshot("binance", "a", AT, binance_account_raw(True))
    assert str(refused.value) == (
        "binance: unsupported account mode: multiAssetsMargin = True (multi-assets mode: every "
        "asset's haircut value is margin); guard supports single-asset mode (USDT wallet) "
        "USDⓈ-M accounts, one-way or hedge, cross or isolated"
    )


def test_parse_when_dydx_position_in_child_of_another_parent_then_refused_with_reason():
    raw = dydx_real_snapshot(129, [{"subaccountNumber": 129, "equity": "5000"}])
    with pytest.raises(
        UnsupportedAccountMode,
        match=r"subaccountNumber = 129 \(a child of parent subaccount 1 holding BTC/USDC:USDC\)",
    ):
        parse_snapshot("dydx", "real", AT, raw)
