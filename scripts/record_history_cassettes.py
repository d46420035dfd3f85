#!/usr/bin/env python
"""Record the vcrpy cassettes of tests/lab/replay/test_history_cassettes.py.

A local stub server on 127.0.0.1 answers in Binance USDⓈ-M wire format (exchangeInfo, klines,
markPriceKlines, fundingRate; one HTTP 429 on the second klines page to exercise the backoff).
Mark-price klines follow the documented row layout (Binance "Mark Price Kline/Candlestick
Data": open time, open, high, low, close, ignore, close time, ...) with a shallower crash wick
than the last-trade klines, as a mark price (an index average) has. ccxt's real
binanceusdm client, built by guard.gateway.ccxt.public_client with api_base pointing at the stub,
runs fetch_ohlcv and fetch_funding_rate_history through guard.lab.replay.history.download_history
while vcrpy records every request. No internet is involved.

    .venv/bin/python scripts/record_history_cassettes.py
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import vcr  # noqa: E402

from guard.gateway.ccxt import GatewaySettings, public_client  # noqa: E402
from guard.lab.replay.history import download_history  # noqa: E402

HOST, PORT = "127.0.0.1", 18765
BASE = f"http://{HOST}:{PORT}"
CASSETTE = ROOT / "tests" / "lab" / "replay" / "cassettes" / "binance_history.yaml"
SINCE = datetime(2024, 8, 1, tzinfo=UTC)
UNTIL = datetime(2024, 8, 11, tzinfo=UTC)
HOUR_MS = 3_600_000
FUNDING_MS = 8 * HOUR_MS

EXCHANGE_INFO = {
    "timezone": "UTC",
    "serverTime": 1723334400000,
    "futuresType": "U_MARGINED",
    "rateLimits": [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400}
    ],
    "exchangeFilters": [],
    "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}],
    "symbols": [
        {
            "symbol": "BTCUSDT",
            "pair": "BTCUSDT",
            "contractType": "PERPETUAL",
            "deliveryDate": 4133404800000,
            "onboardDate": 1569398400000,
            "status": "TRADING",
            "maintMarginPercent": "2.5000",
            "requiredMarginPercent": "5.0000",
            "baseAsset": "BTC",
            "quoteAsset": "USDT",
            "marginAsset": "USDT",
            "pricePrecision": 2,
            "quantityPrecision": 3,
            "baseAssetPrecision": 8,
            "quotePrecision": 8,
            "underlyingType": "COIN",
            "underlyingSubType": ["PoW"],
            "triggerProtect": "0.0500",
            "liquidationFee": "0.012500",
            "marketTakeBound": "0.05",
            "maxMoveOrderLimit": 10000,
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": "556.80",
                    "maxPrice": "4529764",
                    "tickSize": "0.10",
                },
                {
                    "filterType": "LOT_SIZE",
                    "minQty": "0.001",
                    "maxQty": "1000",
                    "stepSize": "0.001",
                },
                {
                    "filterType": "MARKET_LOT_SIZE",
                    "minQty": "0.001",
                    "maxQty": "120",
                    "stepSize": "0.001",
                },
                {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                {"filterType": "MIN_NOTIONAL", "notional": "100"},
                {
                    "filterType": "PERCENT_PRICE",
                    "multiplierUp": "1.0500",
                    "multiplierDown": "0.9500",
                    "multiplierDecimal": "4",
                },
            ],
            "orderTypes": [
                "LIMIT",
                "MARKET",
                "STOP",
                "STOP_MARKET",
                "TAKE_PROFIT",
                "TAKE_PROFIT_MARKET",
                "TRAILING_STOP_MARKET",
            ],
            "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
        }
    ],
}


def candle(open_ms: int) -> list[object]:
    """A deterministic hourly candle: a slow fall with a sharp drop on day five."""
    hour = (open_ms - int(SINCE.timestamp() * 1000)) // HOUR_MS
    level = 65000 - 40 * hour - (6000 if hour >= 96 else 0)
    wiggle = (hour * 37) % 200
    o, c = level + wiggle, level + (wiggle * 3) % 250
    high, low = max(o, c) + 120, min(o, c) - 140 - (4000 if hour == 96 else 0)
    return [
        open_ms,
        f"{o:.2f}",
        f"{high:.2f}",
        f"{low:.2f}",
        f"{c:.2f}",
        f"{100 + hour % 17}.{hour % 1000:03d}",
        open_ms + HOUR_MS - 1,
        "0",
        1000 + hour,
        "0",
        "0",
        "0",
    ]


def mark_candle(open_ms: int) -> list[object]:
    """The mark-price twin of `candle`: same open and close, wicks at most 60 beyond them except
    a 2,500 wick in the crash hour (the last-trade wick is 4,000 deeper)."""
    hour = (open_ms - int(SINCE.timestamp() * 1000)) // HOUR_MS
    row = candle(open_ms)
    o, c = float(str(row[1])), float(str(row[4]))
    high, low = max(o, c) + 60, min(o, c) - 60 - (2500 if hour == 96 else 0)
    return [open_ms, row[1], f"{high:.2f}", f"{low:.2f}", row[4], "0", open_ms + HOUR_MS - 1,
            "0", 0, "0", "0", "0"]  # fmt: skip


class Stub(BaseHTTPRequestHandler):
    klines_calls = 0

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path.endswith("/exchangeInfo"):
            self._send(200, EXCHANGE_INFO)
        elif parts.path.endswith("/klines"):
            Stub.klines_calls += 1
            if Stub.klines_calls == 2:
                self._send(
                    429,
                    {
                        "code": -1003,
                        "msg": "Too many requests; current limit is 2400 request weight per 1 MINUTE.",
                    },
                )
                return
            start = int(query["startTime"])
            limit = int(query.get("limit", 500))
            first = -(-start // HOUR_MS) * HOUR_MS
            end = int(UNTIL.timestamp() * 1000) + 24 * HOUR_MS  # the stub has a day more
            self._send(200, [candle(t) for t in range(first, end, HOUR_MS)][:limit])
        elif parts.path.endswith("/markPriceKlines"):
            start = int(query["startTime"])
            limit = int(query.get("limit", 500))
            first = -(-start // HOUR_MS) * HOUR_MS
            end = int(UNTIL.timestamp() * 1000) + 24 * HOUR_MS
            self._send(200, [mark_candle(t) for t in range(first, end, HOUR_MS)][:limit])
        elif parts.path.endswith("/fundingRate"):
            start = int(query["startTime"])
            limit = int(query.get("limit", 100))
            first = -(-start // FUNDING_MS) * FUNDING_MS
            end = int(UNTIL.timestamp() * 1000) + 24 * HOUR_MS
            rows = [
                {
                    "symbol": "BTCUSDT",
                    "fundingTime": t,
                    "fundingRate": f"{0.0001 - 0.00002 * ((t // FUNDING_MS) % 9):.8f}",
                    "markPrice": "60000.00000000",
                }
                for t in range(first, end, FUNDING_MS)
            ]
            self._send(200, rows[:limit])
        else:
            self._send(404, {"code": -1, "msg": f"stub: no route {parts.path}"})

    def _send(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write(f"stub: {self.command} {self.path}\n")


async def record() -> None:
    exchange = public_client("binance", GatewaySettings(api_base=BASE))
    try:
        with tempfile.TemporaryDirectory() as out:
            result = await download_history(
                exchange,
                venue="binance",
                symbol="BTC/USDT:USDT",
                since=SINCE,
                until=UNTIL,
                timeframe="1h",
                out=Path(out),
                limit=100,
                funding_limit=12,
                backoff=0.01,
            )
            print(
                result.candles,
                "candles,",
                result.funding,
                "funding rows,",
                result.requests,
                "requests,",
                result.mark_candles,
                "mark candles",
            )
    finally:
        await exchange.close()


def main() -> None:
    server = ThreadingHTTPServer((HOST, PORT), Stub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    CASSETTE.unlink(missing_ok=True)
    try:
        recorder = vcr.VCR(
            record_mode="all", match_on=["method", "path", "query"], decode_compressed_response=True
        )
        with recorder.use_cassette(str(CASSETTE)):
            asyncio.run(record())
    finally:
        server.shutdown()
    print(f"wrote {CASSETTE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
