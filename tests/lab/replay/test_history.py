"""History download with a fake exchange object: pagination, de-duplication, pauses between
requests, backoff on rate limits, clear errors; the CSVs load back into the replay."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from guard.gateway.paper.data import load_candles, load_funding, symbol_from_filename
from guard.lab.replay.history import HistoryError, download_history, parse_time, timeframe_ms

SINCE = datetime(2024, 8, 1, tzinfo=UTC)
UNTIL = datetime(2024, 8, 1, 10, tzinfo=UTC)
HOUR = 3_600_000
T0 = int(SINCE.timestamp() * 1000)


class RateLimitExceeded(Exception):
    """Named like ccxt's class: the downloader retries on the class name in the MRO."""


class AuthenticationError(Exception):
    pass


class FakeExchange:
    """A ccxt-shaped exchange: hourly candles from T0 - 2h to T0 + 12h, funding every 4 h."""

    id = "fakeex"
    rateLimit = 250
    enableRateLimit = False

    def __init__(self, fail_first: int = 0, fatal: bool = False) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.fail_first = fail_first
        self.fatal = fatal

    async def load_markets(self) -> dict[str, Any]:
        self.calls.append(("load_markets", ()))
        return {"BTC/USDT:USDT": {}, "BTC/USDC:USDC": {}}

    async def fetch_ohlcv(
        self, symbol: str, timeframe: str, since: int, limit: int
    ) -> list[list[Any]]:
        self.calls.append(("fetch_ohlcv", (symbol, timeframe, since, limit)))
        if self.fatal:
            raise AuthenticationError("invalid api key")
        if self.fail_first:
            self.fail_first -= 1
            raise RateLimitExceeded("429 too many requests")
        first = max(since - HOUR, T0 - 2 * HOUR)  # overlaps the previous page on purpose
        rows = []
        for stamp in range(first - first % HOUR, T0 + 12 * HOUR, HOUR):
            price = 60000.0 + (stamp - T0) / HOUR
            rows.append([stamp, price, price + 10, price - 10, price + 0.5, 1e-05])
        return rows[:limit]

    def fetch_funding_rate_history(
        self, symbol: str, since: int, limit: int
    ) -> list[dict[str, Any]]:
        self.calls.append(("fetch_funding_rate_history", (symbol, since, limit)))
        stamps = [t for t in range(T0 - 4 * HOUR, T0 + 16 * HOUR, 4 * HOUR) if t >= since]
        return [{"timestamp": t, "fundingRate": 0.0001, "symbol": symbol} for t in stamps][:limit]


async def test_download_history_when_pages_overlap_then_each_candle_once_within_window(
    tmp_path: Path,
) -> None:
    exchange = FakeExchange()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    result = await download_history(
        exchange,
        venue="fake",
        symbol="BTC/USDT:USDT",
        since=SINCE,
        until=UNTIL,
        timeframe="1h",
        out=tmp_path,
        limit=4,
        sleep=sleep,
    )
    candles = load_candles(result.candles_path)
    assert [c.at for c in candles] == [datetime(2024, 8, 1, h, tzinfo=UTC) for h in range(10)]
    assert candles[0].volume == Decimal("0.00001")  # floats written as plain decimals
    pages = [args for name, args in exchange.calls if name == "fetch_ohlcv"]
    assert len(pages) >= 3 and [p[2] for p in pages] == sorted(p[2] for p in pages)
    funding = load_funding(result.funding_path)
    assert [t.hour for t, _ in funding] == [0, 4, 8]
    assert result.requests == len(exchange.calls)
    assert slept == [0.25] * (len(exchange.calls) - 1)  # rateLimit between every request
    assert symbol_from_filename(result.candles_path) == "BTC/USDT:USDT"


async def test_download_history_when_rate_limited_then_backs_off_and_completes(
    tmp_path: Path,
) -> None:
    exchange = FakeExchange(fail_first=2)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    result = await download_history(
        exchange,
        venue="fake",
        symbol="BTC/USDT:USDT",
        since=SINCE,
        until=UNTIL,
        timeframe="1h",
        out=tmp_path,
        sleep=sleep,
        pause=0,
        backoff=0.5,
    )
    assert result.candles == 10
    assert slept == [0.5, 1.0]


async def test_download_history_when_rate_limit_persists_then_history_error_names_call(
    tmp_path: Path,
) -> None:
    async def sleep(seconds: float) -> None:
        return None

    with pytest.raises(
        HistoryError, match=r"fakeex fetch_ohlcv\('BTC/USDT:USDT', '1h'.*RateLimitExceeded"
    ):
        await download_history(
            FakeExchange(fail_first=10),
            venue="fake",
            symbol="BTC/USDT:USDT",
            since=SINCE,
            until=UNTIL,
            timeframe="1h",
            out=tmp_path,
            sleep=sleep,
            retries=2,
        )


async def test_download_history_when_error_is_not_retryable_then_fails_at_once(
    tmp_path: Path,
) -> None:
    exchange = FakeExchange(fatal=True)
    with pytest.raises(HistoryError, match="AuthenticationError: invalid api key"):
        await download_history(
            exchange,
            venue="fake",
            symbol="BTC/USDT:USDT",
            since=SINCE,
            until=UNTIL,
            timeframe="1h",
            out=tmp_path,
            pause=0,
        )
    assert [name for name, _ in exchange.calls].count("fetch_ohlcv") == 1


async def test_download_history_when_market_unknown_then_error_lists_similar(
    tmp_path: Path,
) -> None:
    with pytest.raises(HistoryError, match="has no market 'BTC/EUR:EUR'; similar: BTC/USDC:USDC"):
        await download_history(
            FakeExchange(),
            venue="fake",
            symbol="BTC/EUR:EUR",
            since=SINCE,
            until=UNTIL,
            out=tmp_path,
        )


async def test_download_history_when_window_is_reversed_then_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must be after"):
        await download_history(
            FakeExchange(),
            venue="fake",
            symbol="BTC/USDT:USDT",
            since=UNTIL,
            until=SINCE,
            out=tmp_path,
        )


def test_parse_time_and_timeframe_when_given_operator_formats_then_utc_and_ms() -> None:
    assert parse_time("2024-08-01") == SINCE
    assert parse_time("2024-08-01T02:00+02:00") == SINCE
    assert parse_time(str(T0)) == SINCE
    assert timeframe_ms("5m") == 300_000 and timeframe_ms("1d") == 86_400_000
    with pytest.raises(ValueError, match="a timeframe looks like"):
        timeframe_ms("5 minutes")
    with pytest.raises(ValueError, match="a time looks like"):
        parse_time("yesterday")
