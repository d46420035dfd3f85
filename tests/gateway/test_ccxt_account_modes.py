"""Account modes through the real ccxt clients (issue 14): the recorded snapshot cassettes replay
every request except the one stating the account mode, which answers a payload shaped as the
venue documents it (cited per test). Also: what each snapshot asks the venue, per account."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from guard.core.domain import MarginMode
from guard.gateway.base import UnsupportedAccountMode
from guard.gateway.ccxt import CcxtGateway
from guard.gateway.paper.scenarios import MARKETS
from tests.conftest import shared_path
from tests.gateway.cases import CASES, DYDX_WALLET, ENV, RECORDED_AT, settings
from tests.gateway.helpers import Wire, gateway_for, replay


def answer(client: Any, match: Any, payload: Any) -> None:
    """client.fetch returns `payload` (ccxt's parsed JSON) for requests `match(url, body)` accepts;
    every other request goes on to the cassette."""
    original = client.fetch

    async def fetch(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        if match(url, body):
            return copy.deepcopy(payload)
        return await original(url, method, headers, body)

    client.fetch = fetch


def path_has(part: str) -> Any:
    return lambda url, body: part in url


def info_type(kind: str) -> Any:
    return lambda url, body: url.endswith("/info") and json.loads(body or "{}").get("type") == kind


async def snapshot_with(venue: str, match: Any, payload: Any) -> Any:
    gateway, _ = gateway_for(venue)
    answer(gateway.client(CASES[venue].account), match, payload)
    try:
        with replay(venue, "snapshot"):
            return await gateway.fetch_snapshot(CASES[venue].account)
    finally:
        await gateway.close()


def bybit_info(mode: str) -> dict[str, Any]:
    # docs/v5/account/account-info.mdx (bybit-exchange/docs): GET /v5/account/info
    return {
        "retCode": 0,
        "retMsg": "OK",
        "result": {
            "marginMode": mode,
            "updatedTime": "1697078946000",
            "unifiedMarginStatus": 4,
            "dcpStatus": "OFF",
            "timeWindow": 10,
            "smpGroup": 0,
            "isMasterTrader": False,
            "spotHedgingStatus": "OFF",
        },
        "retExtInfo": {},
        "time": 1697078946000,
    }


async def test_bybit_when_account_info_says_portfolio_margin_then_snapshot_refused() -> None:
    with pytest.raises(UnsupportedAccountMode, match=r"marginMode = 'PORTFOLIO_MARGIN'"):
        await snapshot_with("bybit", path_has("/v5/account/info"), bybit_info("PORTFOLIO_MARGIN"))


async def test_bybit_when_account_info_says_isolated_then_position_isolated() -> None:
    snapshot = await snapshot_with(
        "bybit", path_has("/v5/account/info"), bybit_info("ISOLATED_MARGIN")
    )
    (position,) = snapshot.positions
    assert position.margin_mode is MarginMode.ISOLATED
    assert position.isolated_margin is not None and position.isolated_margin > 0


async def test_bybit_when_snapshot_then_usdt_and_usdc_positions_and_account_info_read() -> None:
    gateway, wire = gateway_for("bybit")
    try:
        with replay("bybit", "snapshot"):
            snapshot = await gateway.fetch_snapshot(CASES["bybit"].account)
    finally:
        await gateway.close()
    settles = [s.query.get("settleCoin") for s in wire.sent if s.path.endswith("/position/list")]
    assert settles == ["USDT", "USDC"]
    assert any(s.path.endswith("/v5/account/info") for s in wire.sent)
    assert snapshot.positions[0].margin_mode is MarginMode.CROSS  # REGULAR_MARGIN


@pytest.mark.parametrize("level", ["1", "3", "4"])
async def test_okx_when_account_level_is_not_2_then_snapshot_refused(level: str) -> None:
    # OKX v5 "Get account configuration" GET /api/v5/account/config: data[0].acctLv
    config = {"code": "0", "msg": "", "data": [{"acctLv": level, "posMode": "net_mode"}]}
    with pytest.raises(UnsupportedAccountMode, match=rf"acctLv = '{level}'"):
        await snapshot_with("okx", path_has("/account/config"), config)


async def test_okx_when_snapshot_then_positions_asked_for_swaps_only() -> None:
    gateway, wire = gateway_for("okx")
    try:
        with replay("okx", "snapshot"):
            await gateway.fetch_snapshot(CASES["okx"].account)
    finally:
        await gateway.close()
    asked = [s.query for s in wire.sent if s.path.endswith("/account/positions")]
    assert asked and all(q.get("instType") == "SWAP" for q in asked)


@pytest.mark.parametrize("mode", ["unifiedAccount", "portfolioMargin"])
async def test_hyperliquid_when_abstraction_unified_or_portfolio_then_snapshot_refused(
    mode: str,
) -> None:
    # HL info endpoint "Query a user's abstraction state": {"type": "userAbstraction"}
    with pytest.raises(UnsupportedAccountMode, match=rf"userAbstraction = '{mode}'"):
        await snapshot_with("hyperliquid", info_type("userAbstraction"), mode)


async def test_hyperliquid_when_hip3_dex_holds_real_position_then_snapshot_refused() -> None:
    data = json.loads(
        shared_path("data", "ccxt-static", "hyperliquid", "response.json").read_text()
    )
    hip3 = next(
        e for e in data["methods"]["fetchPositions"] if e["description"] == "fetch hip3 positions"
    )

    def dex_state(url: str, body: Any) -> bool:
        request = json.loads(body or "{}")
        return request.get("type") == "clearinghouseState" and request.get("dex") == "xyz"

    # the venue lab lists no HIP-3 DEX; this account's venue lists one, "xyz" [HL-docs
    # info-endpoint perpetuals "Retrieve all perpetual dexs": null is the first perp DEX]
    dexes = [None, {"name": "xyz", "fullName": "XYZ", "deployer": "0x" + "22" * 20}]
    gateway, _ = gateway_for("hyperliquid")
    client = gateway.client(CASES["hyperliquid"].account)
    answer(client, dex_state, hip3["httpResponse"])
    for asking in (client, gateway.public):
        answer(asking, info_type("perpDexs"), dexes)
    try:
        with (
            replay("hyperliquid", "snapshot"),
            pytest.raises(UnsupportedAccountMode, match=r"clearinghouseState\(dex='xyz'\)"),
        ):
            await gateway.fetch_snapshot(CASES["hyperliquid"].account)
    finally:
        await gateway.close()


async def test_hyperliquid_when_second_snapshot_within_mode_ttl_then_one_private_call() -> None:
    now = [RECORDED_AT]
    case = CASES["hyperliquid"]
    gateway = CcxtGateway(
        "hyperliquid",
        [case.config()],
        settings=settings("hyperliquid"),
        environ=ENV,
        clock=lambda: now[0],
    )
    wire = Wire()
    wire.attach(gateway.client(case.account))
    try:
        with replay("hyperliquid", "snapshot"):
            await gateway.fetch_snapshot(case.account)
            first = len(wire.sent)
            now[0] += timedelta(seconds=5)
            await gateway.fetch_snapshot(case.account)
    finally:
        await gateway.close()
    # the asset's meta margin table (BTC: id 50 in the lab's recorded meta) reaches its market
    # info, tier for tier as the lab's BTC market has them
    btc = gateway._with_margin_table({"info": {"marginTableId": 50}})
    tiers = MARKETS["BTC/USDT:USDT"].tiers
    assert [row["maxLeverage"] for row in btc["info"]["marginTiers"]] == [
        int(t.max_leverage) for t in tiers
    ]
    kinds = [json.loads(s.body or "{}").get("type") for s in wire.sent]
    assert kinds[:first].count("userAbstraction") == 1
    assert kinds[first:] == ["clearinghouseState"]  # positions and balance from one state


async def test_dydx_when_snapshot_then_one_indexer_call_reads_every_subaccount() -> None:
    gateway, wire = gateway_for("dydx")
    try:
        with replay("dydx", "snapshot"):
            snapshot = await gateway.fetch_snapshot(CASES["dydx"].account)
    finally:
        await gateway.close()
    private = [s.path for s in wire.sent if DYDX_WALLET in s.path]
    assert private == [f"/dydx/indexer/v4/addresses/{DYDX_WALLET}"]
    (position,) = snapshot.positions
    assert position.margin_mode is MarginMode.ISOLATED  # the child subaccount 128
    assert gateway._subaccounts[CASES["dydx"].account] == {position.symbol: 128}


async def test_binance_when_account_in_multi_assets_mode_then_snapshot_refused() -> None:
    data = json.loads(shared_path("data", "ccxt-static", "binance", "response.json").read_text())
    entry = next(
        e
        for e in data["methods"]["fetchPositions"]
        if e["description"] == "Fetch linear positions using account endnpoint"
    )
    account = {**entry["httpResponse"], "multiAssetsMargin": True}
    with pytest.raises(UnsupportedAccountMode, match=r"multiAssetsMargin = True"):
        await snapshot_with("binance", path_has("/account"), account)


async def test_dydx_when_one_market_in_two_subaccounts_then_snapshot_refused() -> None:
    data = json.loads(shared_path("data", "ccxt-static", "dydx", "response.json").read_text())
    (held,) = data["methods"]["fetchPositions"][0]["httpResponse"]["positions"]
    subaccounts = {
        "subaccounts": [
            {"subaccountNumber": n, "equity": "1000", "openPerpetualPositions": {"BTC-USD": held}}
            for n in (0, 128)
        ]
    }
    with pytest.raises(UnsupportedAccountMode, match=r"= \[0, 128\] \(one market held in two"):
        await snapshot_with("dydx", path_has(f"/addresses/{DYDX_WALLET}"), subaccounts)


async def test_bybit_when_two_accounts_snapshot_twice_then_risk_limits_fetched_once() -> None:
    case = CASES["bybit"]
    second = replace(case.config(), name="by-second")
    gateway = CcxtGateway("bybit", [case.config(), second], settings=settings("bybit"), environ=ENV)
    wire = Wire()
    for account in (case.account, "by-second"):
        wire.attach(gateway.client(account))
    wire.attach(gateway.public)
    try:
        with replay("bybit", "snapshot"):
            for _ in range(2):
                for account in (case.account, "by-second"):
                    await gateway.fetch_snapshot(account)
    finally:
        await gateway.close()
    tables = [s for s in wire.sent if s.path.endswith("/v5/market/risk-limit")]
    assert len(tables) == 1  # public, shared by every account, re-read once per markets age
    positions = [s for s in wire.sent if s.path.endswith("/v5/position/list")]
    assert len(positions) == 2 * 2 * 2  # USDT + USDC, per account, per snapshot
