"""The lab's Binance USDⓈ-M rejects what Binance rejects, through real ccxt over HTTP: an order
one tick off, one step too small or off-step, a client id in use by an open order or malformed,
a reduce-only order that would flip or increase, hedge-mode position sides, bad signatures."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from ccxt.base import errors as ccxt_errors

from guard.lab.venue_lab import VenueLab
from tests.venue_lab import ccxt_client

SYMBOL = "BTC/USDT:USDT"  # long 1.2 BTC at 60,000; tick 0.1, step 0.001, min notional 5


async def _rejected(lab: VenueLab, name: str, *args: Any, **params: Any) -> tuple[str, str]:
    client = await ccxt_client(lab, name)
    try:
        with pytest.raises(ccxt_errors.ExchangeError) as caught:
            await client.create_order(*args, params=params)
    finally:
        await client.close()
    last = lab.rejections[-1]
    return last.rule, str(caught.value)


async def test_limit_when_price_one_tick_off_then_rejected_4014(venue_lab: VenueLab) -> None:
    rule, text = await _rejected(
        venue_lab,
        "binance",
        SYMBOL,
        "limit",
        "sell",
        0.1,
        59999.9,
        reduceOnly=True,
        price="59999.95",  # ccxt rounds to the tick; the raw parameter goes as sent
    )
    assert rule == "tick" and '"code":-4014' in text.replace(" ", "")


async def test_order_when_quantity_off_step_then_rejected_4023(venue_lab: VenueLab) -> None:
    client = await ccxt_client(venue_lab, "binance")
    try:
        request = client.create_order_request(SYMBOL, "market", "sell", 0.1, None, {})
    finally:
        await client.close()
    assert request["quantity"] == "0.1"  # ccxt rounds; the raw wire must be checked directly
    rule, text = await _rejected(
        venue_lab,
        "binance",
        SYMBOL,
        "market",
        "sell",
        0.1,
        None,
        reduceOnly=True,
        quantity="0.1005",
    )
    assert rule == "step" and "-4023" in text


async def test_order_when_one_step_below_minimum_then_rejected(venue_lab: VenueLab) -> None:
    rule, text = await _rejected(
        venue_lab,
        "binance",
        SYMBOL,
        "market",
        "sell",
        0.001,
        None,
        reduceOnly=True,
        quantity="0.000",
    )
    assert rule == "size_positive" and "-4003" in text


async def test_reduce_only_limit_when_larger_than_position_then_rejected_2022(
    venue_lab: VenueLab,
) -> None:
    rule, text = await _rejected(
        venue_lab, "binance", SYMBOL, "limit", "sell", 1.3, 59990.0, reduceOnly=True
    )
    assert rule == "reduce_only_flip" and "-2022" in text
    assert venue_lab.book.signed_position("bn", SYMBOL) == Decimal("1.2")  # nothing filled


async def test_reduce_only_when_same_side_as_position_then_rejected_2022(
    venue_lab: VenueLab,
) -> None:
    rule, text = await _rejected(
        venue_lab, "binance", SYMBOL, "market", "buy", 0.1, None, reduceOnly=True
    )
    assert rule == "reduce_only_increase" and "-2022" in text


async def test_reduce_only_market_when_larger_than_position_then_closes_it(
    venue_lab: VenueLab,
) -> None:
    client = await ccxt_client(venue_lab, "binance")
    try:
        order = await client.create_order(SYMBOL, "market", "sell", 1.5, None, {"reduceOnly": True})
    finally:
        await client.close()
    assert Decimal(str(order["filled"])) == Decimal("1.2")  # [BN-failed]: RO market closes
    assert venue_lab.book.signed_position("bn", SYMBOL) == 0


async def test_client_id_when_used_by_open_order_then_rejected_4116_and_free_after_fill(
    venue_lab: VenueLab,
) -> None:
    client = await ccxt_client(venue_lab, "binance")
    try:
        resting = await client.create_order(
            SYMBOL, "limit", "sell", 0.1, 62000.0, {"reduceOnly": True, "clientOrderId": "g-one"}
        )
        assert resting["status"] == "open"
        with pytest.raises(ccxt_errors.ExchangeError, match="-4116"):
            await client.create_order(
                SYMBOL, "market", "sell", 0.1, None, {"reduceOnly": True, "clientOrderId": "g-one"}
            )
        await client.cancel_order("", SYMBOL, {"origClientOrderId": "g-one"})
        again = await client.create_order(  # unique among OPEN orders only [BN-api]
            SYMBOL, "market", "sell", 0.1, None, {"reduceOnly": True, "clientOrderId": "g-one"}
        )
        assert again["status"] == "closed"
    finally:
        await client.close()
    assert venue_lab.rejections[-1].rule == "client_id_reused"


async def test_client_id_when_malformed_then_rejected_4015(venue_lab: VenueLab) -> None:
    rule, text = await _rejected(
        venue_lab,
        "binance",
        SYMBOL,
        "market",
        "sell",
        0.1,
        None,
        reduceOnly=True,
        clientOrderId="has space",
    )
    assert rule == "client_id_format" and "-4015" in text


async def test_hedge_account_when_position_side_missing_then_rejected_4061(
    venue_lab: VenueLab,
) -> None:
    rule, text = await _rejected(
        venue_lab, "binance-hedge", SYMBOL, "market", "sell", 0.1, None, reduceOnly=True
    )
    assert rule == "position_side" and "-4061" in text


async def test_hedge_account_when_closing_long_leg_then_accepted(venue_lab: VenueLab) -> None:
    client = await ccxt_client(venue_lab, "binance-hedge")
    try:
        order = await client.create_order(
            SYMBOL, "market", "sell", 0.2, None, {"reduceOnly": True, "hedged": True}
        )
    finally:
        await client.close()
    assert order["status"] == "closed"
    assert venue_lab.book.signed_position("bn-hedge", SYMBOL) == Decimal("1.0")


async def test_private_call_when_signature_wrong_then_rejected_1022(venue_lab: VenueLab) -> None:
    client = await ccxt_client(venue_lab, "binance")
    client.secret = "not-the-secret"
    try:
        with pytest.raises(ccxt_errors.ExchangeError, match="-1022"):
            await client.fetch_positions()
    finally:
        await client.close()
    assert venue_lab.rejections[-1].rule == "signature"


async def test_order_when_filled_then_found_by_client_id(venue_lab: VenueLab) -> None:
    client = await ccxt_client(venue_lab, "binance")
    try:
        await client.create_order(
            SYMBOL, "market", "sell", 0.3, None, {"reduceOnly": True, "clientOrderId": "g-two"}
        )
        found = await client.fetch_order("", SYMBOL, {"origClientOrderId": "g-two"})
    finally:
        await client.close()
    assert found["clientOrderId"] == "g-two" and found["status"] == "closed"
    assert Decimal(str(found["filled"])) == Decimal("0.3")
