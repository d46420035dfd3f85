"""The lab's Bybit v5 rejects what Bybit rejects, through real ccxt over HTTP: a price one tick
off, a quantity off the step or below the minimum, any reused orderLinkId (Bybit: "always
unique"), a reduce-only order that would flip, a positionIdx that does not match the position
mode, a bad signature; and it answers orders by orderLinkId after fills."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from ccxt.base import errors as ccxt_errors

from guard.lab.venue_lab import VenueLab
from tests.venue_lab import ccxt_client

ETH = "ETH/USDT:USDT"  # long 18 ETH at 3,000; tick 0.01, step 0.01
ETH_PAPER = "ETH/USDT:USDT"


async def _rejected(lab: VenueLab, name: str, *args: Any, **params: Any) -> tuple[str, str]:
    client = await ccxt_client(lab, name)
    try:
        with pytest.raises(ccxt_errors.ExchangeError) as caught:
            await client.create_order(*args, params=params)
    finally:
        await client.close()
    return lab.rejections[-1].rule, str(caught.value)


async def test_limit_when_price_one_tick_off_then_rejected(venue_lab: VenueLab) -> None:
    rule, text = await _rejected(
        venue_lab, "bybit", ETH, "limit", "sell", 1, 2990, reduceOnly=True, price="2990.005"
    )
    assert rule == "tick" and '"retCode":10001' in text.replace(" ", "")


async def test_order_when_quantity_off_step_then_rejected(venue_lab: VenueLab) -> None:
    rule, text = await _rejected(
        venue_lab, "bybit", ETH, "market", "sell", 1, None, reduceOnly=True, qty="1.005"
    )
    assert rule == "step" and "Qty invalid" in text


async def test_order_when_one_step_below_minimum_then_rejected(venue_lab: VenueLab) -> None:
    rule, _ = await _rejected(
        venue_lab, "bybit", ETH, "market", "sell", 1, None, reduceOnly=True, qty="0"
    )
    assert rule == "size_positive"


async def test_order_link_id_when_reused_after_fill_then_rejected_110072(
    venue_lab: VenueLab,
) -> None:
    client = await ccxt_client(venue_lab, "bybit")
    try:
        await client.create_order(
            ETH, "market", "sell", 1, None, {"reduceOnly": True, "clientOrderId": "g-bb-1"}
        )
        with pytest.raises(ccxt_errors.InvalidOrder, match="110072"):
            await client.create_order(
                ETH, "market", "sell", 1, None, {"reduceOnly": True, "clientOrderId": "g-bb-1"}
            )
    finally:
        await client.close()
    assert venue_lab.rejections[-1].rule == "client_id_reused"
    assert venue_lab.book.signed_position("by", ETH_PAPER) == Decimal(17)  # only the first


async def test_reduce_only_when_it_would_flip_then_rejected_110017(venue_lab: VenueLab) -> None:
    rule, text = await _rejected(
        venue_lab, "bybit", ETH, "market", "sell", 19, None, reduceOnly=True
    )
    assert rule == "reduce_only_flip" and "110017" in text


async def test_hedge_account_when_position_idx_zero_then_rejected(venue_lab: VenueLab) -> None:
    rule, _ = await _rejected(
        venue_lab, "bybit-hedge", ETH, "market", "sell", 1, None, reduceOnly=True, positionIdx=0
    )
    assert rule == "position_side"


async def test_hedge_account_when_closing_long_leg_then_filled(venue_lab: VenueLab) -> None:
    client = await ccxt_client(venue_lab, "bybit-hedge")
    try:
        await client.create_order(
            ETH,
            "market",
            "sell",
            2,
            None,
            {"reduceOnly": True, "hedged": True, "clientOrderId": "g-bbh-1"},
        )
    finally:
        await client.close()
    assert venue_lab.book.signed_position("by-hedge", ETH_PAPER) == Decimal(16)


async def test_private_call_when_signature_wrong_then_rejected_10004(venue_lab: VenueLab) -> None:
    client = await ccxt_client(venue_lab, "bybit")
    client.secret = "not-the-secret"
    try:
        with pytest.raises(ccxt_errors.AuthenticationError):
            await client.fetch_positions()
    finally:
        await client.close()
    assert venue_lab.rejections[-1].rule == "signature"


async def test_order_when_filled_then_found_by_order_link_id(venue_lab: VenueLab) -> None:
    client = await ccxt_client(venue_lab, "bybit")
    try:
        await client.create_order(
            ETH, "market", "sell", 3, None, {"reduceOnly": True, "clientOrderId": "g-bb-2"}
        )
        response = await client.privateGetV5OrderRealtime(
            {"category": "linear", "symbol": "ETHUSDT", "orderLinkId": "g-bb-2"}
        )
    finally:
        await client.close()
    row = response["result"]["list"][0]
    assert row["orderLinkId"] == "g-bb-2" and row["orderStatus"] == "Filled"
    assert Decimal(row["cumExecQty"]) == 3
