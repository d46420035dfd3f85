"""Mark-price candles through ccxt's fetchOHLCV (the `price: mark` endpoints of Binance, Bybit and
OKX; Hyperliquid's candleSnapshot and dYdX's indexer candles are last-trade candles, flagged as the
mark's proxy); rows validated into Decimal/UTC bars, a bad row named by venue, index and field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from guard.core.policy.units import format_duration
from guard.core.volatility import Bar, CandleSeries
from guard.gateway.base import TemporaryError
from guard.gateway.ccxt.session import CcxtSession

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# ccxt's fetchOHLCV params selecting the mark-price klines, where the venue offers them:
# Binance GET /fapi/v1/markPriceKlines, Bybit GET /v5/market/mark-price-kline, OKX GET
# /api/v5/market/mark-price-candles (the URLs ccxt's docstrings cite for `price: mark`).
MARK_PRICE_PARAMS: dict[str, dict[str, str]] = {
    "binance": {"price": "mark"},
    "bybit": {"price": "mark"},
    "okx": {"price": "mark"},
}


class CcxtCandleReader(CcxtSession):
    """The MarkCandles capability of the ccxt gateway (public data, one request per call)."""

    async def fetch_mark_candles(
        self, symbol: str, timeframe: timedelta, bars: int
    ) -> CandleSeries:
        await self.markets()
        params = MARK_PRICE_PARAMS.get(self.venue)
        public = self.public
        frame = format_duration(timeframe)
        now = self.clock()
        # from the bar `bars - 1` before the one forming now; `until` tells ccxt's Hyperliquid
        # candleSnapshot the end (it would otherwise take the machine's clock)
        since = EPOCH + timeframe * ((now - EPOCH) // timeframe - (bars - 1))
        extra = {"until": _ms(now)} if self.venue == "hyperliquid" else {}
        rows = await self._read(
            "fetch_ohlcv",
            lambda: public.fetch_ohlcv(
                symbol, frame, _ms(since), bars, {**(params or {}), **extra}
            ),
        )
        found = parse_ohlcv(self.venue, symbol, rows)
        source = f"{self.venue} {'mark-price' if params else 'last-trade'} {frame} candles"
        return CandleSeries(timeframe, found, params is not None, source)


def parse_ohlcv(venue: str, symbol: str, rows: Any) -> tuple[Bar, ...]:
    """ccxt OHLCV rows [ms, open, high, low, close, volume] → bars, oldest first; a malformed
    row raises TemporaryError naming venue, symbol, row and field (the candles are not used)."""
    if not isinstance(rows, list):
        raise TemporaryError(f"{venue}: fetch_ohlcv {symbol}: expected a list, got {rows!r:.80}")
    found: dict[int, Bar] = {}
    for index, row in enumerate(rows):
        where = f"{venue}: fetch_ohlcv {symbol} row {index}"
        if not isinstance(row, list | tuple) or len(row) < 5:
            raise TemporaryError(f"{where}: expected [t, o, h, l, c, v], got {row!r:.80}")
        values = []
        for name, raw in zip(("open", "high", "low", "close"), row[1:5], strict=True):
            try:
                value = Decimal(str(raw))
            except InvalidOperation:
                raise TemporaryError(f"{where}: {name} {raw!r} is not a number") from None
            if not value.is_finite() or value <= 0:
                raise TemporaryError(f"{where}: {name} {raw!r} is not a positive price")
            values.append(value)
        opened, high, low, close = values
        if low > high:
            raise TemporaryError(f"{where}: low {low} above high {high}")
        stamp = int(row[0])
        found[stamp] = Bar(EPOCH + timedelta(milliseconds=stamp), opened, high, low, close)
    return tuple(found[k] for k in sorted(found))


def _ms(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(milliseconds=1)
