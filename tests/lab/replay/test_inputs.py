"""Pairing --symbol values with --candles/--funding files."""

from __future__ import annotations

from pathlib import Path

import pytest

from guard.gateway.paper.data import DataError
from guard.lab.replay.inputs import pair_symbols


def test_pair_symbols_when_symbols_given_then_ith_symbol_names_ith_file() -> None:
    files = [Path("a.csv"), Path("ETHUSDT_1m.csv")]
    assert pair_symbols(files, ["BTCUSDT"], "--candles") == [
        ("BTC/USDT:USDT", Path("a.csv")),
        ("ETH/USDT:USDT", Path("ETHUSDT_1m.csv")),  # no symbol left: from the file name
    ]


def test_pair_symbols_when_more_symbols_than_files_then_error_explains_order() -> None:
    with pytest.raises(ValueError, match="one --symbol per --funding file"):
        pair_symbols([Path("BTCUSDT.csv")], ["BTCUSDT", "ETHUSDT"], "--funding")


def test_pair_symbols_when_name_has_no_symbol_and_none_given_then_data_error() -> None:
    with pytest.raises(DataError, match="pass --symbol"):
        pair_symbols([Path("candles.csv")], [], "--candles")
