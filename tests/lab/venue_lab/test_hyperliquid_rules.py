"""The lab's Hyperliquid rejects what Hyperliquid rejects, through real ccxt over HTTP (ccxt's own
rounding bypassed where it would hide the rule): more than 5 significant figures, a size beyond
szDecimals, an order under $10, a reduce-only order that would flip, a malformed cloid, a bad
signature shape or a reused nonce; and it answers orders by cloid after fills."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from ccxt.base import errors as ccxt_errors

from guard.lab.venue_lab import VenueLab
from tests.venue_lab import ccxt_client

BTC, SOL = "BTC/USDC:USDC", "SOL/USDC:USDC"  # long 1.2 BTC at 60,000; long 100 SOL (isolated)
CLOID = "0x" + "0123456789abcdef" * 2


async def _raw_client(lab: VenueLab) -> Any:
    """A ccxt client whose own price/amount rounding is off, so the wire carries what we give."""
    client = await ccxt_client(lab, "hyperliquid")
    client.price_to_precision = lambda symbol, price: str(price)
    client.amount_to_precision = lambda symbol, amount: str(amount)
    return client


async def _rejected(lab: VenueLab, *args: Any, **params: Any) -> tuple[str, str]:
    client = await _raw_client(lab)
    try:
        with pytest.raises(ccxt_errors.ExchangeError) as caught:
            await client.create_order(*args, params=params)
    finally:
        await client.close()
    return lab.rejections[-1].rule, str(caught.value)


async def test_price_when_six_significant_figures_then_rejected(venue_lab: VenueLab) -> None:
    rule, text = await _rejected(venue_lab, BTC, "limit", "sell", 0.1, "59990.5", reduceOnly=True)
    assert rule == "sig_figs" and "Price must be divisible by tick size." in text


async def test_price_when_more_decimals_than_6_minus_szdecimals_then_rejected(
    venue_lab: VenueLab,
) -> None:  # SOL szDecimals 1: at most 5 decimals
    rule, _ = await _rejected(venue_lab, SOL, "limit", "sell", 1, "149.000001", reduceOnly=True)
    assert rule in ("sig_figs", "price_decimals")


async def test_size_when_beyond_szdecimals_then_rejected(venue_lab: VenueLab) -> None:
    rule, text = await _rejected(venue_lab, BTC, "limit", "sell", "0.0005", 59000, reduceOnly=True)
    assert rule == "step" and "Order has invalid size." in text


async def test_order_when_value_under_ten_dollars_then_rejected(venue_lab: VenueLab) -> None:
    rule, text = await _rejected(venue_lab, SOL, "limit", "sell", "0.1", "90", reduceOnly=True)
    assert rule == "min_notional" and "Order must have minimum value of $10." in text


async def test_reduce_only_when_it_would_flip_then_rejected(venue_lab: VenueLab) -> None:
    rule, text = await _rejected(venue_lab, BTC, "limit", "sell", "1.3", "59000", reduceOnly=True)
    assert rule == "reduce_only_flip" and "Reduce only order would increase position." in text
    assert venue_lab.book.signed_position("hl", "BTC/USDT:USDT") == Decimal("1.2")


async def test_cloid_when_not_128_bit_hex_then_rejected(venue_lab: VenueLab) -> None:
    rule, _ = await _rejected(
        venue_lab, BTC, "limit", "sell", "0.1", "59000", reduceOnly=True, clientOrderId="0x1234"
    )
    assert rule == "client_id_format"


async def test_order_when_filled_then_found_by_cloid(venue_lab: VenueLab) -> None:
    client = await ccxt_client(venue_lab, "hyperliquid")
    try:
        created = await client.create_order(
            BTC, "market", "sell", 0.2, 60000, {"reduceOnly": True, "clientOrderId": CLOID}
        )
        found = await client.fetch_order("", BTC, {"clientOrderId": CLOID})
    finally:
        await client.close()
    # a fill answer carries no status (as in the real recorded createOrder), only the fill
    assert Decimal(str(created["filled"])) == Decimal("0.2")
    assert found["status"] == "closed" and found["clientOrderId"] == CLOID
    assert venue_lab.book.signed_position("hl", "BTC/USDT:USDT") == Decimal("1.0")


def _order_action() -> dict[str, Any]:
    return {
        "type": "order",
        "orders": [
            {
                "a": 0,
                "b": False,
                "p": "59000",
                "s": "0.1",
                "r": True,
                "t": {"limit": {"tif": "Ioc"}},
            }
        ],
        "grouping": "na",
    }


async def _post(lab: VenueLab, body: dict[str, Any]) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session:
        url = lab.base_url("hyperliquid") + "/exchange/exchange"
        async with session.post(url, json=body) as response:
            text = await response.text()
            return response.status, text


async def test_exchange_when_signature_not_r_s_v_then_refused_and_nothing_filled(
    venue_lab: VenueLab,
) -> None:
    nonce = int(time.time() * 1000)
    status, _ = await _post(
        venue_lab, {"action": _order_action(), "nonce": nonce, "signature": {"r": "0x12"}}
    )
    assert status == 422 and venue_lab.rejections[-1].rule == "signature"
    assert venue_lab.book.signed_position("hl", "BTC/USDT:USDT") == Decimal("1.2")


async def test_exchange_when_nonce_reused_then_second_refused(venue_lab: VenueLab) -> None:
    shaped = {"r": "0x" + "1" * 64, "s": "0x" + "2" * 64, "v": 27}  # shape only, as documented
    nonce = int(time.time() * 1000)
    body = {"action": _order_action(), "nonce": nonce, "signature": shaped}
    first = await _post(venue_lab, body)
    second = await _post(venue_lab, body)
    assert first[0] == 200 and '"filled"' in first[1]
    assert "already used" in second[1] and venue_lab.rejections[-1].rule == "nonce"
    assert venue_lab.book.signed_position("hl", "BTC/USDT:USDT") == Decimal("1.1")
