"""The venue lab's websocket streams in the venues' formats: Binance mark-price streams and the
user data stream behind a listenKey (order and account events after a fill), Hyperliquid allMids
and webData2; each pushes when virtual time moves; a dropped stream closes the client's socket,
a silenced one stays open and sends nothing."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import aiohttp

from guard.lab.venue_lab import VenueLab
from tests.venue_lab import ACCOUNTS, HL_WALLET, ccxt_client


async def _next(socket: aiohttp.ClientWebSocketResponse, **match: Any) -> Any:
    """The next JSON message whose keys match (within 5 s)."""
    async with asyncio.timeout(5):
        while True:
            message = await socket.receive_json()
            if all(message.get(k) == v for k, v in match.items()):
                return message


def _ws(lab: VenueLab, path: str) -> str:
    return lab.base_url("binance").replace("/binance", path).replace("http://", "ws://")


async def test_binance_mark_price_when_time_moves_then_pushed_in_binance_format(
    venue_lab: VenueLab,
) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(_ws(venue_lab, "/binance/ws")) as socket,
    ):
        await socket.send_json({"method": "SUBSCRIBE", "params": ["btcusdt@markPrice@1s"], "id": 1})
        assert await _next(socket, id=1) == {"result": None, "id": 1}
        first = await _next(socket, e="markPriceUpdate")
        venue_lab.book.advance_to(venue_lab.book.paper.path.end)  # to the scenario's end
        later = await _next(socket, e="markPriceUpdate")
    assert first["s"] == later["s"] == "BTCUSDT"
    assert later["E"] > first["E"] and Decimal(later["p"]) != Decimal(first["p"])
    assert Decimal(later["p"]) == venue_lab.book.mark("BTC/USDT:USDT").quantize(Decimal("1e-8"))


async def test_binance_user_stream_when_order_fills_then_order_and_account_updates(
    venue_lab: VenueLab,
) -> None:
    client = await ccxt_client(venue_lab, "binance")
    try:
        key = (await client.fapiPrivatePostListenKey())["listenKey"]
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(_ws(venue_lab, f"/binance/ws/{key}")) as socket,
        ):
            await _next(socket, e="ACCOUNT_UPDATE")
            await client.create_order(
                "BTC/USDT:USDT",
                "market",
                "sell",
                0.2,
                None,
                {"reduceOnly": True, "clientOrderId": "g-stream-1"},
            )
            update = await _next(socket, e="ORDER_TRADE_UPDATE")
            account = await _next(socket, e="ACCOUNT_UPDATE")
    finally:
        await client.close()
    assert update["o"]["c"] == "g-stream-1" and update["o"]["X"] == "FILLED"
    btc = [p for p in account["a"]["P"] if p["s"] == "BTCUSDT"]
    assert btc and Decimal(btc[0]["pa"]) == Decimal("1.0")


async def test_binance_user_stream_when_listen_key_unknown_then_refused(
    venue_lab: VenueLab,
) -> None:
    async with aiohttp.ClientSession() as session:
        try:
            async with session.ws_connect(_ws(venue_lab, "/binance/ws/" + "0" * 64)):
                raise AssertionError("an unknown listenKey was accepted")
        except aiohttp.WSServerHandshakeError as error:
            assert error.status == 400


async def test_hyperliquid_when_subscribed_then_all_mids_and_web_data_pushed(
    venue_lab: VenueLab,
) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(_ws(venue_lab, "/hyperliquid/ws")) as socket,
    ):
        await socket.send_json({"method": "subscribe", "subscription": {"type": "allMids"}})
        await _next(socket, channel="subscriptionResponse")
        mids = await _next(socket, channel="allMids")
        await socket.send_json(
            {"method": "subscribe", "subscription": {"type": "webData2", "user": HL_WALLET}}
        )
        web_data = await _next(socket, channel="webData2")
        await socket.send_json({"method": "ping"})
        assert (await _next(socket, channel="pong")) == {"channel": "pong"}
    assert set(mids["data"]["mids"]) == {"BTC", "ETH", "SOL"}
    positions = web_data["data"]["clearinghouseState"]["assetPositions"]
    assert {p["position"]["coin"] for p in positions} == {"BTC", "ETH", "SOL"}
    assert ACCOUNTS["hyperliquid"].credentials["walletAddress"] == HL_WALLET


async def test_stream_when_dropped_then_client_sees_close_and_silenced_sends_nothing(
    venue_lab: VenueLab,
) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(_ws(venue_lab, "/hyperliquid/ws")) as socket,
    ):
        await socket.send_json({"method": "subscribe", "subscription": {"type": "allMids"}})
        await _next(socket, channel="allMids")
        venue_lab.streams.silenced.add("hyperliquid")
        venue_lab.book.advance_to(
            venue_lab.book.paper.now
            + (venue_lab.book.paper.path.end - venue_lab.book.paper.path.start) / 2
        )
        sent = venue_lab.streams.sent
        await asyncio.sleep(0.2)
        assert venue_lab.streams.sent == sent  # silent: nothing pushed
        assert await venue_lab.streams.drop("hyperliquid") == 1
        closing = await socket.receive(timeout=5)
    assert closing.type in (
        aiohttp.WSMsgType.CLOSE,
        aiohttp.WSMsgType.CLOSED,
        aiohttp.WSMsgType.CLOSING,
    )


async def test_binance_market_stream_when_an_account_orders_then_nothing_re_sent(
    venue_lab: VenueLab,
) -> None:
    """An order re-renders only its own account's user stream: with N accounts each order used
    to re-send every stream (N² renders and messages, the lab's CPU in the reaction bench)."""
    client = await ccxt_client(venue_lab, "binance")
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(_ws(venue_lab, "/binance/ws")) as socket,
        ):
            await socket.send_json(
                {"method": "SUBSCRIBE", "params": ["btcusdt@markPrice"], "id": 1}
            )
            await _next(socket, e="markPriceUpdate")
            sent = venue_lab.streams.sent
            await client.create_order(
                "BTC/USDT:USDT", "market", "sell", 0.2, None, {"reduceOnly": True}
            )
            await asyncio.sleep(0.2)  # ten push checks
            assert venue_lab.streams.sent == sent  # time did not move: nothing new to say
            venue_lab.book.advance_to(venue_lab.book.paper.path.end)
            await _next(socket, e="markPriceUpdate")  # a move still pushes
    finally:
        await client.close()
