"""CSV market data (candles and funding) read into Decimal/UTC values; every error names file,
line and column. Symbols come from an explicit name or from the file name."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

CANDLE_COLUMNS = ("timestamp_ms", "open", "high", "low", "close", "volume")
FUNDING_COLUMNS = ("timestamp_ms", "funding_rate")
QUOTES = ("USDT", "USDC", "BUSD", "USD")


class DataError(ValueError):
    """A market-data file could not be used; names file, line, column and what is allowed."""

    def __init__(self, path: Path | str, line: int | None, column: str, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.column = column
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {column}: {message}" if column else f"{where}: {message}")


@dataclass(frozen=True, slots=True)
class Candle:
    """One OHLCV bar; `at` is the bar's open time (UTC)."""

    at: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


FundingSeries = tuple[tuple[datetime, Decimal], ...]


def unified_symbol(raw: str) -> str:
    """'BTCUSDT' or 'BTC/USDT:USDT' -> 'BTC/USDT:USDT' (linear perpetual, unified ccxt style)."""
    text = raw.strip()
    if "/" in text:
        if ":" in text:
            return text
        base, quote = text.split("/", 1)
        return f"{base}/{quote}:{quote}"
    upper = text.upper().replace("-", "").replace("_", "")
    for quote in QUOTES:
        if upper.endswith(quote) and len(upper) > len(quote):
            base = upper[: -len(quote)]
            return f"{base}/{quote}:{quote}"
    raise ValueError(f"cannot read a symbol from {raw!r}; write it like BTCUSDT or BTC/USDT:USDT")


_NAME_TOKEN = re.compile(r"[A-Z0-9]+(?:USDT|USDC|BUSD|USD)$")


def symbol_from_filename(path: Path) -> str:
    """The market named in a file name such as binance_usdm_BTCUSDT_5m_2024-08-01.csv."""
    for token in re.split(r"[_\-.\s]+", path.stem):
        if _NAME_TOKEN.fullmatch(token) and not token.isdigit():
            return unified_symbol(token)
    raise DataError(
        path,
        None,
        "",
        "no symbol in the file name (expected a token like BTCUSDT); pass --symbol for this file",
    )


def _rows(path: Path, columns: Sequence[str]) -> Iterator[tuple[int, list[str]]]:
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as error:
        raise DataError(path, None, "", f"cannot read the file: {error.strerror}") from error
    with handle:
        reader = csv.reader(handle)
        for number, row in enumerate(reader, start=1):
            if not row or all(not cell.strip() for cell in row):
                continue
            first = row[0].strip()
            if number == 1 and first and not first.lstrip("-").isdigit():
                header = tuple(cell.strip() for cell in row)
                if header != tuple(columns):
                    raise DataError(
                        path,
                        1,
                        "header",
                        f"expected the columns {','.join(columns)}, got {','.join(header)}",
                    )
                continue
            if len(row) != len(columns):
                raise DataError(
                    path,
                    number,
                    "",
                    f"expected {len(columns)} columns ({','.join(columns)}), got {len(row)}",
                )
            yield number, [cell.strip() for cell in row]


def _timestamp(path: Path, line: int, raw: str) -> datetime:
    if not raw.isdigit():
        raise DataError(
            path, line, "timestamp_ms", f"must be Unix epoch milliseconds (UTC), got {raw!r}"
        )
    return datetime.fromtimestamp(int(raw) / 1000, tz=UTC)


def _number(path: Path, line: int, column: str, raw: str) -> Decimal:
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise DataError(path, line, column, f"must be a decimal number, got {raw!r}") from None
    if not value.is_finite():
        raise DataError(path, line, column, f"must be finite, got {raw!r}")
    return value


def load_candles(path: Path) -> tuple[Candle, ...]:
    """Candles of `path` (`timestamp_ms,open,high,low,close,volume`), strictly increasing in time."""
    candles: list[Candle] = []
    for line, row in _rows(path, CANDLE_COLUMNS):
        at = _timestamp(path, line, row[0])
        values = {
            c: _number(path, line, c, raw)
            for c, raw in zip(CANDLE_COLUMNS[1:], row[1:], strict=True)
        }
        for column in ("open", "high", "low", "close"):
            if values[column] <= 0:
                raise DataError(
                    path, line, column, f"a price must be positive, got {values[column]}"
                )
        if values["volume"] < 0:
            raise DataError(path, line, "volume", "must not be negative")
        if values["high"] < max(values["open"], values["close"], values["low"]):
            raise DataError(path, line, "high", "must be at least open, close and low")
        if values["low"] > min(values["open"], values["close"]):
            raise DataError(path, line, "low", "must be at most open and close")
        if candles and at <= candles[-1].at:
            raise DataError(
                path,
                line,
                "timestamp_ms",
                f"timestamps must strictly increase; {at.isoformat()} follows "
                f"{candles[-1].at.isoformat()}",
            )
        candles.append(
            Candle(
                at,
                values["open"],
                values["high"],
                values["low"],
                values["close"],
                values["volume"],
            )
        )
    if not candles:
        raise DataError(path, None, "", "no candles in the file")
    return tuple(candles)


def load_funding(path: Path) -> FundingSeries:
    """Funding settlements of `path` (`timestamp_ms,funding_rate`), rate per interval as a fraction."""
    series: list[tuple[datetime, Decimal]] = []
    for line, row in _rows(path, FUNDING_COLUMNS):
        at = _timestamp(path, line, row[0])
        rate = _number(path, line, "funding_rate", row[1])
        if abs(rate) >= 1:
            raise DataError(
                path,
                line,
                "funding_rate",
                f"a rate is a fraction per interval (0.0001 = 0.01 %), got {row[1]}",
            )
        if series and at <= series[-1][0]:
            raise DataError(path, line, "timestamp_ms", "timestamps must strictly increase")
        series.append((at, rate))
    if not series:
        raise DataError(path, None, "", "no funding rows in the file")
    return tuple(series)
