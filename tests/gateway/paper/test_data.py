"""CSV loading: values, and errors that name file, line and column."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from guard.gateway.paper.data import (
    DataError,
    load_candles,
    load_funding,
    symbol_from_filename,
    unified_symbol,
)

HEADER = "timestamp_ms,open,high,low,close,volume\n"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_load_candles_when_valid_then_decimal_utc_values(tmp_path: Path) -> None:
    path = write(tmp_path, "c.csv", HEADER + "1722470400000,100.5,101,99,100,12.5\n")
    (candle,) = load_candles(path)
    assert candle.at == datetime(2024, 8, 1, tzinfo=UTC)
    assert (candle.open, candle.high, candle.low, candle.close) == (
        Decimal("100.5"),
        Decimal(101),
        Decimal(99),
        Decimal(100),
    )


def test_load_candles_when_no_header_then_rows_still_read(tmp_path: Path) -> None:
    path = write(tmp_path, "c.csv", "1722470400000,1,2,0.5,1.5,3\n1722470460000,1,2,0.5,1.5,3\n")
    assert len(load_candles(path)) == 2


@pytest.mark.parametrize(
    ("rows", "where"),
    [
        ("1722470400000,abc,101,99,100,1\n", ":2: open: must be a decimal number"),
        ("1722470400000,100,99,98,100,1\n", ":2: high: must be at least"),
        ("1722470400000,100,101,100.5,100,1\n", ":2: low: must be at most"),
        ("1722470400000,100,101,99,100\n", ":2: expected 6 columns"),
        ("2024-08-01,100,101,99,100,1\n", ":2: timestamp_ms: must be Unix epoch milliseconds"),
        ("1722470400000,100,101,99,100,-1\n", ":2: volume: must not be negative"),
        (
            "1722470400000,100,101,99,100,1\n1722470400000,100,101,99,100,1\n",
            ":3: timestamp_ms: timestamps must strictly increase",
        ),
    ],
)
def test_load_candles_when_row_is_bad_then_error_names_file_line_column(
    tmp_path: Path, rows: str, where: str
) -> None:
    path = write(tmp_path, "bad.csv", HEADER + rows)
    with pytest.raises(DataError) as caught:
        load_candles(path)
    assert str(caught.value).startswith(str(path))
    assert where in str(caught.value)


def test_load_candles_when_header_is_wrong_then_error_lists_expected_columns(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "bad.csv", "time,o,h,l,c,v\n1,1,1,1,1,1\n")
    with pytest.raises(DataError, match=r":1: header: expected the columns timestamp_ms,open"):
        load_candles(path)


def test_load_candles_when_file_missing_or_empty_then_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot read the file"):
        load_candles(tmp_path / "absent.csv")
    with pytest.raises(DataError, match="no candles"):
        load_candles(write(tmp_path, "empty.csv", HEADER))


def test_load_funding_when_rate_is_a_percentage_then_error_explains_fraction(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "f.csv", "timestamp_ms,funding_rate\n1722470400000,1.5\n")
    with pytest.raises(DataError, match=r":2: funding_rate: a rate is a fraction"):
        load_funding(path)


def test_load_funding_when_valid_then_series_in_time_order(tmp_path: Path) -> None:
    path = write(
        tmp_path, "f.csv", "timestamp_ms,funding_rate\n1722470400000,0.0001\n1722499200000,-2E-5\n"
    )
    series = load_funding(path)
    assert [rate for _, rate in series] == [Decimal("0.0001"), Decimal("-0.00002")]


@pytest.mark.parametrize(
    ("name", "symbol"),
    [
        ("binance_spot_BTCUSDT_5m_2024-08-01_2024-08-10.csv", "BTC/USDT:USDT"),
        ("binance_usdm_SOLUSDT_funding_2022-11-01_2022-11-21.csv", "SOL/USDT:USDT"),
        ("ETHUSDC.csv", "ETH/USDC:USDC"),
    ],
)
def test_symbol_from_filename_when_name_has_pair_then_unified_symbol(
    name: str, symbol: str
) -> None:
    assert symbol_from_filename(Path(name)) == symbol


def test_symbol_from_filename_when_no_pair_then_error_suggests_symbol_option() -> None:
    with pytest.raises(DataError, match="pass --symbol"):
        symbol_from_filename(Path("candles_2024.csv"))


def test_unified_symbol_when_given_variants_then_same_symbol() -> None:
    assert {unified_symbol(s) for s in ("BTCUSDT", "btc-usdt", "BTC/USDT", "BTC/USDT:USDT")} == {
        "BTC/USDT:USDT"
    }
    with pytest.raises(ValueError, match="cannot read a symbol"):
        unified_symbol("BTC")
