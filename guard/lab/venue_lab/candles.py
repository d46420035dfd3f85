"""The lab's candle endpoints, each in its venue's documented wire format, built from the paper
path up to the lab's now: Binance markPriceKlines, Bybit mark-price-kline, OKX mark-price-candles
(mark prices) and Hyperliquid candleSnapshot (last-trade candles on the venue, the path here)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from guard.core.domain import MarketSpec
from guard.core.volatility import Bar
from guard.gateway.paper.path import path_bars
from guard.lab.venue_lab.server import Call, Rejected

MINUTE = timedelta(minutes=1)
BINANCE = {"1m": 1, "3m": 3, "5m": 5, "15m": 15, "30m": 30, "1h": 60, "4h": 240, "1d": 1440}
BYBIT = {"1": 1, "3": 3, "5": 5, "15": 15, "30": 30, "60": 60, "240": 240, "D": 1440}
OKX = {"1m": 1, "3m": 3, "5m": 5, "15m": 15, "30m": 30, "1H": 60, "4H": 240, "1D": 1440}
HYPERLIQUID = BINANCE


def _bars(
    call: Call, specs: Mapping[str, MarketSpec], market: str, minutes: int, limit: int
) -> list[Bar]:
    spec = specs.get(market)
    if spec is None:
        raise Rejected(400, {"error": f"unknown market {market}"}, "symbol", market)
    limit = max(1, min(limit, 1500))
    now = call.book.now() - timedelta(milliseconds=call.stale_ms)
    return list(path_bars(call.book.paper.path, spec.symbol, minutes * MINUTE, now, limit))


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _frame(table: Mapping[str, int], raw: str) -> int:
    if raw not in table:
        raise Rejected(400, {"error": f"interval {raw!r} not served"}, "interval", raw)
    return table[raw]


def binance_mark_klines(call: Call, specs: Mapping[str, MarketSpec]) -> Any:
    """GET /fapi/v1/markPriceKlines [BN-api Mark-Price-Kline-Candlestick-Data]: oldest first,
    [open time, open, high, low, close, ignore, close time, ignore, count, ignore, ignore, ignore]."""
    minutes = _frame(BINANCE, call.query.get("interval", ""))
    found = _bars(
        call, specs, call.query.get("symbol", ""), minutes, int(call.query.get("limit", 500))
    )
    return [
        [_ms(b.at), str(b.open), str(b.high), str(b.low), str(b.close), "0",
         _ms(b.at + minutes * MINUTE) - 1, "0", 0, "0", "0", "0"]
        for b in found
    ]  # fmt: skip


def bybit_mark_kline(call: Call, specs: Mapping[str, MarketSpec]) -> Any:
    """GET /v5/market/mark-price-kline [Bybit v5 market/mark-kline]: `list` newest first,
    [startTime, open, high, low, close] as strings."""
    minutes = _frame(BYBIT, call.query.get("interval", ""))
    market = call.query.get("symbol", "")
    found = _bars(call, specs, market, minutes, int(call.query.get("limit", 200)))
    rows = [[str(_ms(b.at)), str(b.open), str(b.high), str(b.low), str(b.close)] for b in found]
    return {"category": "linear", "symbol": market, "list": rows[::-1]}


def okx_mark_candles(call: Call, specs: Mapping[str, MarketSpec]) -> Any:
    """GET /api/v5/market/mark-price-candles [OKX v5 get-mark-price-candlesticks]: newest first,
    [ts, o, h, l, c, confirm] ("0": the bar is still forming, "1": closed)."""
    minutes = _frame(OKX, call.query.get("bar", "1m"))
    found = _bars(
        call, specs, call.query.get("instId", ""), minutes, int(call.query.get("limit", 100))
    )
    now = call.book.now()
    rows = [
        [str(_ms(b.at)), str(b.open), str(b.high), str(b.low), str(b.close),
         "1" if b.at + minutes * MINUTE <= now else "0"]
        for b in found
    ]  # fmt: skip
    return rows[::-1]


def hyperliquid_candles(call: Call, specs: Mapping[str, MarketSpec], req: Mapping[str, Any]) -> Any:
    """POST /info {"type": "candleSnapshot"} [HL-docs info-endpoint "Candle snapshot"]: oldest
    first, {t, T, s, i, o, c, h, l, v, n} between startTime and endTime."""
    interval = str(req.get("interval", ""))
    minutes = _frame(HYPERLIQUID, interval)
    coin = str(req.get("coin", ""))
    start = int(req.get("startTime", 0))
    span = max(1, (call.now_ms - start) // (minutes * 60_000) + 1)
    found = [b for b in _bars(call, specs, coin, minutes, span) if _ms(b.at) >= start]
    return [
        {"t": _ms(b.at), "T": _ms(b.at + minutes * MINUTE) - 1, "s": coin, "i": interval,
         "o": str(b.open), "c": str(b.close), "h": str(b.high), "l": str(b.low), "v": "0.0",
         "n": 0}
        for b in found
    ]  # fmt: skip
