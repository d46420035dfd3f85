"""The lab's OKX rejects what OKX rejects, through real ccxt over HTTP (amounts in contracts): a
price one tick off, a size off the lot, a reused or malformed clOrdId, a reduce-only order that
would flip or that targets the cross side of an isolated position, posSide in the wrong mode, a
wrong passphrase; and it answers orders by clOrdId after fills."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from ccxt.base import errors as ccxt_errors

from guard.lab.venue_lab import VenueLab
from tests.venue_lab import ccxt_client

BTC = "BTC/USDT:USDT"  # long 1.2 BTC = 120 contracts of 0.01; lot 0.1 contract; tick 0.1
SOL = "SOL/USDT:USDT"  # isolated long 100 SOL = 100 contracts


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
        venue_lab, "okx", BTC, "limit", "sell", 10, 59990, reduceOnly=True, px="59990.05"
    )
    assert rule == "tick" and "51000" in text


async def test_order_when_size_off_lot_then_rejected_51121(venue_lab: VenueLab) -> None:
    rule, text = await _rejected(
        venue_lab, "okx", BTC, "market", "sell", 10, None, reduceOnly=True, sz="10.05"
    )
    assert rule == "step" and "51121" in text


async def test_order_when_one_lot_below_minimum_then_rejected(venue_lab: VenueLab) -> None:
    rule, _ = await _rejected(
        venue_lab, "okx", BTC, "market", "sell", 10, None, reduceOnly=True, sz="0"
    )
    assert rule == "size_positive"


async def test_cl_ord_id_when_reused_then_rejected_51016(venue_lab: VenueLab) -> None:
    client = await ccxt_client(venue_lab, "okx")
    try:
        await client.create_order(
            BTC, "market", "sell", 10, None, {"reduceOnly": True, "clientOrderId": "gokx1"}
        )
        with pytest.raises(ccxt_errors.InvalidOrder, match="51016"):
            await client.create_order(
                BTC, "market", "sell", 10, None, {"reduceOnly": True, "clientOrderId": "gokx1"}
            )
    finally:
        await client.close()
    assert venue_lab.rejections[-1].rule == "client_id_reused"
    assert venue_lab.book.signed_position("okx", BTC) == Decimal("1.1")


async def test_cl_ord_id_when_not_alphanumeric_then_rejected(venue_lab: VenueLab) -> None:
    rule, _ = await _rejected(
        venue_lab, "okx", BTC, "market", "sell", 10, None, reduceOnly=True, clientOrderId="g-okx-1"
    )
    assert rule == "client_id_format"


async def test_reduce_only_when_it_would_flip_then_rejected_51112(venue_lab: VenueLab) -> None:
    rule, text = await _rejected(
        venue_lab, "okx", BTC, "market", "sell", 130, None, reduceOnly=True
    )
    assert rule == "reduce_only_flip" and "51112" in text


async def test_reduce_only_when_isolated_position_sent_as_cross_then_rejected_51169(
    venue_lab: VenueLab,
) -> None:
    rule, text = await _rejected(
        venue_lab, "okx", SOL, "market", "sell", 10, None, reduceOnly=True
    )  # ccxt's default tdMode is cross
    assert rule == "reduce_only_increase" and "51169" in text
    client = await ccxt_client(venue_lab, "okx")
    try:  # with marginMode isolated it reaches the isolated position
        await client.create_order(
            SOL, "market", "sell", 10, None, {"reduceOnly": True, "marginMode": "isolated"}
        )
    finally:
        await client.close()
    assert venue_lab.book.signed_position("okx", SOL) == Decimal(90)


async def test_hedge_account_when_pos_side_missing_then_rejected(venue_lab: VenueLab) -> None:
    rule, _ = await _rejected(
        venue_lab, "okx-hedge", BTC, "market", "sell", 10, None, reduceOnly=True
    )
    assert rule == "position_side"


async def test_private_call_when_passphrase_wrong_then_refused(venue_lab: VenueLab) -> None:
    client = await ccxt_client(venue_lab, "okx")
    client.password = "wrong"
    try:
        with pytest.raises(ccxt_errors.AuthenticationError):
            await client.fetch_positions()
    finally:
        await client.close()
    assert venue_lab.rejections[-1].rule == "signature"


async def test_order_when_filled_then_found_by_cl_ord_id(venue_lab: VenueLab) -> None:
    client = await ccxt_client(venue_lab, "okx")
    try:
        await client.create_order(
            BTC, "market", "sell", 20, None, {"reduceOnly": True, "clientOrderId": "gokx2"}
        )
        found = await client.fetch_order("", BTC, {"clOrdId": "gokx2"})
    finally:
        await client.close()
    assert found["clientOrderId"] == "gokx2" and found["status"] == "closed"
    assert Decimal(str(found["filled"])) == 20  # contracts
