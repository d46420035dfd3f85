"""ccxt OHLCV rows into bars: Decimal/UTC, oldest first, duplicates by time collapsed; a malformed
row is refused naming venue, symbol, row and field (the candles are then not used)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from guard.gateway.base import TemporaryError
from guard.gateway.ccxt.candles import parse_ohlcv

MS = 1722816000000  # 2024-08-05 00:00 UTC


def test_parse_ohlcv_when_rows_out_of_order_then_bars_oldest_first() -> None:
    rows = [[MS + 60000, 2, 3, 1, 2.5, 0], [MS, 1, 2, 0.5, "1.5", 10]]
    bars = parse_ohlcv("binance", "BTC/USDT:USDT", rows)
    assert [b.at for b in bars] == [
        datetime(2024, 8, 5, tzinfo=UTC),
        datetime(2024, 8, 5, 0, 1, tzinfo=UTC),
    ]
    assert bars[0].close == Decimal("1.5") and bars[1].close == Decimal("2.5")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ([MS, 1, 2, 3, 1.5, 0], "row 0: low 3 above high 2"),
        ([MS, 1, "x", 0.5, 1.5, 0], "row 0: high 'x' is not a number"),
        ([MS, 1, 2, 0, 1.5, 0], "row 0: low 0 is not a positive price"),
        ([MS, 1, 2], "row 0: expected"),
    ],
)
def test_parse_ohlcv_when_a_row_is_malformed_then_refused_naming_it(
    row: list[object], message: str
) -> None:
    with pytest.raises(TemporaryError, match=f"okx: fetch_ohlcv BTC/USDT:USDT {message}"):
        parse_ohlcv("okx", "BTC/USDT:USDT", [row])
