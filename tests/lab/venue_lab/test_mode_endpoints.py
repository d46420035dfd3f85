"""The lab serves the account-mode requests as the venues document them, through real ccxt over
HTTP: Hyperliquid `perpDexs` (null = the first perp DEX) and `userAbstraction`, a per-DEX
`clearinghouseState` of an unlisted DEX refused; Bybit `/v5/position/list` by `settleCoin`
(symbol or settleCoin required); OKX `/api/v5/account/positions` by `instType`; dYdX orders
reduce only what the sending subaccount holds (isolated SOL lives in child subaccount 128)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from ccxt.base import errors as ccxt_errors

from guard.core.domain import MarginMode
from guard.gateway.paper.scenarios import crash
from guard.lab.venue_lab import VenueLab, build_lab
from tests.lab.venue_lab.test_dydx_rules import _send
from tests.venue_lab import ACCOUNTS, DYDX_WALLET, HL_WALLET, ccxt_client


async def _call(lab: VenueLab, name: str, method: str, params: dict[str, Any]) -> Any:
    client = await ccxt_client(lab, name)
    try:
        return await getattr(client, method)(params)
    finally:
        await client.close()


async def test_hyperliquid_when_perp_dexs_asked_then_only_the_first_dex(
    venue_lab: VenueLab,
) -> None:
    listed = await _call(venue_lab, "hyperliquid", "publicPostInfo", {"type": "perpDexs"})
    assert listed == [None]


async def test_hyperliquid_when_user_abstraction_asked_then_default_as_json_string(
    venue_lab: VenueLab,
) -> None:
    body = {"type": "userAbstraction", "user": HL_WALLET}
    # the body is the JSON string "default"; ccxt hands a non-object body over as its raw text
    assert await _call(venue_lab, "hyperliquid", "publicPostInfo", body) == '"default"'


async def test_hyperliquid_when_state_of_unlisted_dex_asked_then_refused(
    venue_lab: VenueLab,
) -> None:
    body = {"type": "clearinghouseState", "user": HL_WALLET, "dex": "xyz"}
    with pytest.raises(ccxt_errors.ExchangeError, match="422"):
        await _call(venue_lab, "hyperliquid", "publicPostInfo", body)
    assert venue_lab.rejections[-1].rule == "dex"
    first = await _call(
        venue_lab, "hyperliquid", "publicPostInfo", {**body, "dex": ""}
    )  # "" is the first perp DEX: the account's own state
    assert len(first["assetPositions"]) == 3


@pytest.mark.parametrize(("coin", "rows"), [("USDT", 3), ("USDC", 0)])
async def test_bybit_when_positions_listed_by_settle_coin_then_only_that_coin(
    venue_lab: VenueLab, coin: str, rows: int
) -> None:
    answer = await _call(
        venue_lab, "bybit", "privateGetV5PositionList", {"category": "linear", "settleCoin": coin}
    )
    assert len(answer["result"]["list"]) == rows


async def test_bybit_when_positions_listed_without_symbol_or_settle_coin_then_10001(
    venue_lab: VenueLab,
) -> None:
    with pytest.raises(ccxt_errors.ExchangeError, match="symbol or settleCoin is required"):
        await _call(venue_lab, "bybit", "privateGetV5PositionList", {"category": "linear"})


async def test_bybit_when_account_info_asked_then_unified_regular_margin(
    venue_lab: VenueLab,
) -> None:
    answer = await _call(venue_lab, "bybit", "privateGetV5AccountInfo", {})
    assert answer["result"]["marginMode"] == "REGULAR_MARGIN"
    assert answer["result"]["unifiedMarginStatus"] == 4


@pytest.mark.parametrize(("kind", "rows"), [("SWAP", 3), ("FUTURES", 0), ("OPTION", 0)])
async def test_okx_when_positions_listed_by_inst_type_then_only_that_type(
    venue_lab: VenueLab, kind: str, rows: int
) -> None:
    answer = await _call(venue_lab, "okx", "privateGetAccountPositions", {"instType": kind})
    assert len(answer["data"]) == rows


async def test_okx_when_inst_type_unknown_then_51000(venue_lab: VenueLab) -> None:
    with pytest.raises(ccxt_errors.ExchangeError, match="instType"):
        await _call(venue_lab, "okx", "privateGetAccountPositions", {"instType": "PERP"})


SOL = "SOL/USDC:USDC"  # long 100 SOL, isolated: child subaccount 128
BTC = "BTC/USDC:USDC"  # long 1.2 BTC, cross: subaccount 0


@pytest.mark.parametrize(
    ("symbol", "price", "subaccount", "code"),
    [(SOL, 140, 0, 2001), (BTC, 59000, 128, 2001), (SOL, 140, 128, 0), (BTC, 59000, 0, 0)],
    ids=["sol-from-0", "btc-from-128", "sol-from-128", "btc-from-0"],
)
async def test_dydx_when_order_sent_from_a_subaccount_then_it_reduces_only_what_that_one_holds(
    venue_lab: VenueLab, symbol: str, price: int, subaccount: int, code: int
) -> None:
    client = await ccxt_client(venue_lab, "dydx")
    try:
        got = await _send(
            client,
            symbol,
            "limit",
            "sell",
            1,
            price,
            reduceOnly=True,
            clientOrderId=40 + subaccount,
            timeInForce="IOC",
            subAccountId=subaccount,
        )
    finally:
        await client.close()
    assert got == code
    if code == 0:
        sent_from = venue_lab.modules["dydx"].order_subaccounts  # type: ignore[attr-defined]
        assert sent_from[("dydx", str(40 + subaccount))] == subaccount


async def test_dydx_when_an_isolated_position_closes_then_other_children_keep_their_number() -> (
    None
):
    both = replace(
        crash(),
        positions=tuple(
            replace(s, margin_mode=MarginMode.ISOLATED, margin=None) if "ETH" in s.symbol else s
            for s in crash().positions
        ),
    )
    lab = build_lab(both, [ACCOUNTS["dydx"].lab_account()], venues=["dydx"], budgets={})
    await lab.start()
    client = await ccxt_client(lab, "dydx")
    try:
        before = await client.indexerGetAddressesAddress({"address": DYDX_WALLET})
        numbers = {
            n["subaccountNumber"]: sorted(n["openPerpetualPositions"])
            for n in before["subaccounts"]
        }
        assert numbers == {0: ["BTC-USD"], 128: ["ETH-USD"], 129: ["SOL-USD"]}
        closed = await _send(
            client, "ETH/USDC:USDC", "limit", "sell", 18, 2800, reduceOnly=True,
            clientOrderId=71, timeInForce="IOC", subAccountId=128,
        )  # fmt: skip
        after = await client.indexerGetAddressesAddress({"address": DYDX_WALLET})
        sol = await _send(
            client, SOL, "limit", "sell", 1, 140, reduceOnly=True,
            clientOrderId=72, timeInForce="IOC", subAccountId=129,
        )  # fmt: skip
    finally:
        await client.close()
        await lab.stop()
    assert closed == 0 and sol == 0
    assert [n["subaccountNumber"] for n in after["subaccounts"]] == [0, 129]


async def test_dydx_when_orders_listed_by_subaccount_then_only_its_own_and_parent_sees_children(
    venue_lab: VenueLab,
) -> None:
    client = await ccxt_client(venue_lab, "dydx")
    try:
        for symbol, price, number in ((SOL, 140, 128), (BTC, 59000, 0)):
            code = await _send(
                client, symbol, "limit", "sell", 1, price, reduceOnly=True,
                clientOrderId=80 + number, timeInForce="IOC", subAccountId=number,
            )  # fmt: skip
            assert code == 0
        query = {"address": DYDX_WALLET}
        own = await client.indexerGetOrders({**query, "subaccountNumber": 0})
        child = await client.indexerGetOrders({**query, "subaccountNumber": 128})
        family = await client.indexerGetOrdersParentSubaccountNumber(
            {**query, "parentSubaccountNumber": 0}
        )
    finally:
        await client.close()
    assert [(o["ticker"], o["subaccountNumber"]) for o in own] == [("BTC-USD", 0)]
    assert [(o["ticker"], o["subaccountNumber"]) for o in child] == [("SOL-USD", 128)]
    assert sorted(o["clientId"] for o in family) == ["208", "80"]
