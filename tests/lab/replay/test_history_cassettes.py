"""History download through ccxt's real binanceusdm client (from guard.gateway.ccxt.public_client)
replayed from vcrpy cassettes recorded against a local stub in Binance wire format by
scripts/record_history_cassettes.py (one HTTP 429 included; last-trade and mark-price klines)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import vcr

from guard.gateway.ccxt import GatewaySettings, public_client
from guard.gateway.paper.data import load_candles, load_funding
from guard.lab.replay.history import HistoryError, download_history

CASSETTE = Path(__file__).parent / "cassettes" / "binance_history.yaml"
BASE = "http://127.0.0.1:18765"  # the stub's address when the cassette was recorded
SINCE = datetime(2024, 8, 1, tzinfo=UTC)
UNTIL = datetime(2024, 8, 11, tzinfo=UTC)


def cassette(repeats: bool = False) -> Any:
    recorder = vcr.VCR(record_mode="none", match_on=["method", "path", "query"])
    return recorder.use_cassette(str(CASSETTE), allow_playback_repeats=repeats)


async def test_download_history_when_binance_pages_and_429_then_all_rows_written(
    tmp_path: Path,
) -> None:
    exchange = public_client("binance", GatewaySettings(api_base=BASE))
    try:
        with cassette() as played:
            result = await download_history(
                exchange,
                venue="binance",
                symbol="BTC/USDT:USDT",
                since=SINCE,
                until=UNTIL,
                timeframe="1h",
                out=tmp_path,
                limit=100,
                funding_limit=12,
                backoff=0.01,
            )
            assert played.all_played
    finally:
        await exchange.close()
    candles = load_candles(result.candles_path)
    assert len(candles) == 240 and candles[0].at == SINCE
    assert candles[-1].at == datetime(2024, 8, 10, 23, tzinfo=UTC)
    crash = candles[96]  # the stub's crash candle at 2024-08-05 00:00
    assert crash.at == datetime(2024, 8, 5, tzinfo=UTC)
    assert crash.low < candles[95].low - Decimal(4000) and crash.low < crash.open * Decimal("0.93")
    funding = load_funding(result.funding_path)
    assert len(funding) == 30 and funding[0][0] == SINCE
    # markets + 4 kline calls (one answered 429, retried) + 3 mark-price kline calls + 3 funding
    assert result.requests == 11
    assert result.candles_path.name == "binance_BTCUSDT_1h_2024-08-01_2024-08-11.csv"
    # Binance offers mark-price klines (GET /fapi/v1/markPriceKlines, ccxt price: mark): written
    # beside the last-trade file; the mark's crash wick is shallower than the last trade's
    assert result.mark_path is not None
    assert result.mark_path.name == "binance_BTCUSDT_1h_mark_2024-08-01_2024-08-11.csv"
    marks = load_candles(result.mark_path)
    assert result.mark_candles == len(marks) == 240
    assert [m.at for m in marks] == [c.at for c in candles]
    assert marks[96].low > crash.low and marks[96].close == crash.close


async def test_download_history_when_symbol_not_listed_then_history_error(tmp_path: Path) -> None:
    exchange = public_client("binance", GatewaySettings(api_base=BASE))
    try:
        with (
            cassette(repeats=True),
            pytest.raises(HistoryError, match="has no market 'ETH/USDT:USDT'"),
        ):
            await download_history(
                exchange,
                venue="binance",
                symbol="ETH/USDT:USDT",
                since=SINCE,
                until=UNTIL,
                out=tmp_path,
            )
    finally:
        await exchange.close()
