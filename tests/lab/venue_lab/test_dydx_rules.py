"""The lab's dYdX v4 decodes the signed MsgPlaceOrder that real ccxt broadcasts and refuses what
the chain refuses: a reduce-only order that is not IOC (9003), quantums off StepBaseQuantums or
subticks off SubticksPerTick (12), a good-til-block beyond the short block window (11), a reused
order id inside its window (30), a reduce-only order that would increase (2001), a malformed
signature (4); an oversized reduce-only order is clipped; the indexer answers by client id."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import aiohttp
from ccxt.base import errors as ccxt_errors

from guard.lab.venue_lab import VenueLab
from tests.venue_lab import ccxt_client

BTC = "BTC/USDC:USDC"  # long 1.2 BTC at 60,000 in subaccount 0; step 0.001, tick 0.1
PAPER_BTC = "BTC/USDT:USDT"


def _code(error: Exception) -> int:
    found = re.search(r'"code":(\d+)', str(error))
    assert found, str(error)
    return int(found.group(1))


async def _send(client: Any, *args: Any, **params: Any) -> int:
    """The chain's CheckTx code (ccxt raises on a non-zero one, with the node's answer)."""
    try:
        order = await client.create_order(*args, params=params)
    except ccxt_errors.ExchangeError as error:
        return _code(error)
    return int(order["info"]["code"])


async def _place(lab: VenueLab, *args: Any, **params: Any) -> tuple[None, int]:
    client = await ccxt_client(lab, "dydx")
    try:
        return None, await _send(client, *args, **params)
    finally:
        await client.close()


async def test_reduce_only_when_not_ioc_then_rejected_9003(venue_lab: VenueLab) -> None:
    _, code = await _place(
        venue_lab,
        BTC,
        "limit",
        "sell",
        0.1,
        59000,
        reduceOnly=True,
        clientOrderId=11,
        timeInForce="IOC",
        goodTillBlock=None,
    )
    assert code == 0  # the IOC one is accepted
    client = await ccxt_client(venue_lab, "dydx")
    try:  # GTT long-term reduce-only: the chain's ValidateBasic refuses it
        code = await _send(
            client, BTC, "limit", "sell", 0.1, 59000, **{"reduceOnly": True, "clientOrderId": 12}
        )
    finally:
        await client.close()
    assert code == 9003
    assert venue_lab.rejections[-1].rule == "reduce_only_tif"


async def test_order_when_size_off_step_then_rejected_12(venue_lab: VenueLab) -> None:
    client = await ccxt_client(venue_lab, "dydx")
    client.amount_to_precision = lambda symbol, amount: str(amount)  # past ccxt's rounding
    try:
        code = await _send(
            client,
            BTC,
            "limit",
            "sell",
            0.1005,
            59000,
            **{"reduceOnly": True, "clientOrderId": 13, "timeInForce": "IOC"},
        )
    finally:
        await client.close()
    assert code == 12 and venue_lab.rejections[-1].rule == "step"


async def test_order_when_below_the_one_step_minimum_then_rejected_12(venue_lab: VenueLab) -> None:
    # dYdX has no separate minimum: quantums must be a multiple of StepBaseQuantums (venues.md
    # §2.4 "Size and price grid"), so one step is the smallest size; 0.0009 BTC is 9e6
    # quantums at atomic resolution -10, not a multiple of the 1e7 step: refused like any
    # off-step size (a zero size would be ErrInvalidOrderQuantums, code 4)
    client = await ccxt_client(venue_lab, "dydx")
    client.amount_to_precision = lambda symbol, amount: str(amount)  # past ccxt's rounding
    try:
        code = await _send(
            client,
            BTC,
            "limit",
            "sell",
            0.0009,  # below 1 step (0.001): truncated to zero quantums on the wire
            59000,
            **{"reduceOnly": True, "clientOrderId": 15, "timeInForce": "IOC"},
        )
    finally:
        await client.close()
    assert code == 12 and venue_lab.rejections[-1].rule == "step"
    assert "StepBaseQuantums" in venue_lab.rejections[-1].detail


async def test_order_when_price_off_tick_then_rejected_12(venue_lab: VenueLab) -> None:
    client = await ccxt_client(venue_lab, "dydx")
    client.price_to_precision = lambda symbol, price: str(price)
    try:
        code = await _send(
            client,
            BTC,
            "limit",
            "sell",
            0.1,
            59000.05,
            **{"reduceOnly": True, "clientOrderId": 14, "timeInForce": "IOC"},
        )
    finally:
        await client.close()
    assert code == 12 and venue_lab.rejections[-1].rule == "tick"


async def test_order_when_good_til_block_beyond_window_then_rejected_11(
    venue_lab: VenueLab,
) -> None:
    client = await ccxt_client(venue_lab, "dydx")
    try:
        height = await client.fetch_latest_block_height()
        code = await _send(
            client,
            BTC,
            "limit",
            "sell",
            0.1,
            59000,
            **{
                "reduceOnly": True,
                "clientOrderId": 15,
                "timeInForce": "IOC",
                "goodTillBlock": height + 50,
            },
        )
    finally:
        await client.close()
    assert code == 11


async def test_client_id_when_reused_inside_its_window_then_rejected_30(
    venue_lab: VenueLab,
) -> None:
    _, code = await _place(
        venue_lab,
        BTC,
        "limit",
        "sell",
        0.1,
        59000,
        reduceOnly=True,
        clientOrderId=16,
        timeInForce="IOC",
    )
    _, again = await _place(
        venue_lab,
        BTC,
        "limit",
        "sell",
        0.1,
        59000,
        reduceOnly=True,
        clientOrderId=16,
        timeInForce="IOC",
    )
    assert (code, again) == (0, 30)
    assert venue_lab.book.signed_position("dydx", PAPER_BTC) == Decimal("1.1")


async def test_reduce_only_when_same_side_then_rejected_2001(venue_lab: VenueLab) -> None:
    _, code = await _place(
        venue_lab,
        BTC,
        "limit",
        "buy",
        0.1,
        61000,
        reduceOnly=True,
        clientOrderId=17,
        timeInForce="IOC",
    )
    assert code == 2001


async def test_reduce_only_when_larger_than_position_then_clipped(venue_lab: VenueLab) -> None:
    _, code = await _place(
        venue_lab,
        BTC,
        "limit",
        "sell",
        1.5,
        57000,
        reduceOnly=True,
        clientOrderId=18,
        timeInForce="IOC",
    )
    assert code == 0 and venue_lab.book.signed_position("dydx", PAPER_BTC) == 0


async def test_broadcast_when_signature_malformed_then_rejected_4(venue_lab: VenueLab) -> None:
    client = await ccxt_client(venue_lab, "dydx")
    try:
        height = await client.fetch_latest_block_height()
        account = await client.fetch_dydx_account()
        _, request = client.create_order_request(
            BTC,
            "limit",
            "sell",
            0.1,
            59000,
            {
                "reduceOnly": True,
                "clientOrderId": 19,
                "timeInForce": "IOC",
                "latestBlockHeight": height,
            },
        )
        signed = client.sign_dydx_tx(
            client.retrieve_credentials()["privateKey"],
            request,
            "",
            client.options.get("chainName"),
            account,
            None,
        )
    finally:
        await client.close()
    tampered = signed[:-4]  # the signature's last two bytes cut off
    url = venue_lab.base_url("dydx") + "/nodeRpc/broadcast_tx_sync"
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, params={"tx": tampered}) as response,
    ):
        body = await response.json()
    assert body["result"]["code"] in (2, 4)
    assert venue_lab.book.signed_position("dydx", PAPER_BTC) == Decimal("1.2")


async def test_order_when_filled_then_indexer_finds_it_by_client_id(venue_lab: VenueLab) -> None:
    await _place(
        venue_lab,
        BTC,
        "limit",
        "sell",
        0.2,
        59000,
        reduceOnly=True,
        clientOrderId=20,
        timeInForce="IOC",
    )
    client = await ccxt_client(venue_lab, "dydx")
    try:
        orders = await client.fetch_orders(BTC)
    finally:
        await client.close()
    found = [o for o in orders if str(o["clientOrderId"]) == "20"]
    assert found and found[0]["status"] == "closed"
    assert Decimal(str(found[0]["filled"])) == Decimal("0.2")
