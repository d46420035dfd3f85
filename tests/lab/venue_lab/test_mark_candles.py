"""Mark-price candles through ccxt's real clients and the guard's gateway against the venue lab,
which answers in each venue's documented format: Binance markPriceKlines, Bybit
mark-price-kline, OKX mark-price-candles (mark), Hyperliquid candleSnapshot (the mark's proxy)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from guard.gateway.paper.path import path_bars
from guard.lab.venue_lab import VenueLab
from tests.venue_lab import ACCOUNTS, gateway

FIVE = timedelta(minutes=5)
ENDPOINTS = {
    "binance": ("/fapi/v1/markPriceKlines", True),
    "bybit": ("/v5/market/mark-price-kline", True),
    "okx": ("/api/v5/market/(history-)?mark-price-candles", True),
    "hyperliquid": ("/info", False),
}


@pytest.mark.parametrize("venue", sorted(ENDPOINTS))
async def test_fetch_mark_candles_when_venue_lab_serves_them_then_bars_of_the_mark_path(
    venue_lab: VenueLab, venue: str
) -> None:
    venue_lab.book.advance_to(venue_lab.book.now() + timedelta(minutes=32))
    guard = gateway(venue_lab, venue)
    try:
        snapshot = await guard.fetch_snapshot(ACCOUNTS[venue].account)
        position = snapshot.positions[0]
        venue_lab.requests.clear()
        series = await guard.fetch_mark_candles(position.symbol, FIVE, 5)
    finally:
        await guard.close()
    path, mark = ENDPOINTS[venue]
    method = "POST" if venue == "hyperliquid" else "GET"
    assert any(
        v == venue and m == method and re.fullmatch(path, p) for v, m, p in venue_lab.requests
    )
    assert series.mark is mark and series.timeframe == FIVE
    paper_symbol = next(
        s for s, spec in venue_lab.book.paper.markets.items() if spec.base == position.symbol[:3]
    )
    expected = path_bars(venue_lab.book.paper.path, paper_symbol, FIVE, venue_lab.book.now(), 5)
    assert series.bars[-len(expected) :] == expected
    assert len(series.bars) >= 5
