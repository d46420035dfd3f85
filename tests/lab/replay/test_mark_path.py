"""The replay's price path: mark-price candles when `guard history download` wrote them beside the
last-trade file, else the last-trade candles as the mark's documented proxy (said in the report,
and in every volatility reading the guard makes during the replay)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from guard.lab.replay.history import mark_candles_path
from guard.lab.replay.inputs import load_setup

PORTFOLIO = """\
venue: paper
collateral: 10000
positions:
  - {symbol: BTCUSDT, side: long, quantity: 1, entry_price: 100, leverage: 10x}
"""
TRADE = "timestamp_ms,open,high,low,close,volume\n0,100,101,90,100,1\n60000,100,102,99,101,1\n"
MARK = "timestamp_ms,open,high,low,close,volume\n0,100,100.5,97,100,0\n60000,100,101,99.5,101,0\n"


def test_mark_candles_path_when_download_names_then_mark_inserted_before_the_dates() -> None:
    path = Path("out/binance_BTCUSDT_1h_2024-08-01_2024-08-11.csv")
    assert mark_candles_path(path) == Path("out/binance_BTCUSDT_1h_mark_2024-08-01_2024-08-11.csv")


async def test_load_setup_when_mark_twin_exists_then_path_is_the_mark(tmp_path: Path) -> None:
    trade = tmp_path / "binance_BTCUSDT_1m_2024-08-01_2024-08-02.csv"
    trade.write_text(TRADE, encoding="utf-8")
    portfolio = tmp_path / "portfolio.yaml"
    portfolio.write_text(PORTFOLIO, encoding="utf-8")
    proxy = load_setup([trade], [], [], portfolio)
    assert proxy.price == "last-trade"
    assert min(p for _, p in proxy.path.knots["BTC/USDT:USDT"]) == 90  # the last-trade wick
    venue = proxy.venue("a")
    venue.advance_to(venue.now + timedelta(minutes=2))
    series = await venue.fetch_mark_candles("BTC/USDT:USDT", timedelta(minutes=1), 2)
    assert not series.mark and "last-trade" in series.source
    mark_candles_path(trade).write_text(MARK, encoding="utf-8")
    marked = load_setup([trade], [], [], portfolio)
    assert marked.price == "mark"
    assert min(p for _, p in marked.path.knots["BTC/USDT:USDT"]) == 97  # the mark's wick
    assert marked.venue("a").candles_are_mark
