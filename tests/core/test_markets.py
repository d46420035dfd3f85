"""Markets written the way traders write them resolve to exactly one unified symbol or are refused
with the list of markets the guard knows."""

from __future__ import annotations

import pytest

from guard.core.markets import MarketRefused, resolve_market

KNOWN = ["SOL/USDT:USDT", "ETH/USDT:USDT", "BTC/USDT:USDT"]


@pytest.mark.parametrize(
    ("written", "symbol"),
    [
        ("SOL", "SOL/USDT:USDT"),
        ("sol", "SOL/USDT:USDT"),
        ("SOLUSDT", "SOL/USDT:USDT"),
        ("SOL-USDT", "SOL/USDT:USDT"),
        ("SOL/USDT", "SOL/USDT:USDT"),
        ("SOL/USDT:USDT", "SOL/USDT:USDT"),
        ("SOL-USDT-SWAP", "SOL/USDT:USDT"),
        ("ETH-PERP", "ETH/USDT:USDT"),
        (" eth ", "ETH/USDT:USDT"),
    ],
)
def test_resolve_when_written_as_trader_writes_then_one_unified_symbol(
    written: str, symbol: str
) -> None:
    assert resolve_market(written, KNOWN) == symbol


def test_resolve_when_base_listed_on_two_settlements_then_refused_as_ambiguous() -> None:
    refused = resolve_market("BTC", ["BTC/USDT:USDT", "BTC/USDC:USDC"])
    assert isinstance(refused, MarketRefused)
    assert refused.candidates == ("BTC/USDC:USDC", "BTC/USDT:USDT")
    assert "ambiguous" in refused.message and "BTC/USDC:USDC" in refused.message
    assert resolve_market("BTCUSDC", ["BTC/USDT:USDT", "BTC/USDC:USDC"]) == "BTC/USDC:USDC"


def test_resolve_when_unknown_market_then_refused_with_known_list() -> None:
    refused = resolve_market("DOGE", KNOWN)
    assert isinstance(refused, MarketRefused)
    assert refused.message == (
        "market 'DOGE' matches no known market (known: BTC/USDT:USDT, ETH/USDT:USDT, SOL/USDT:USDT)"
    )


def test_resolve_when_nothing_known_then_refused_saying_so() -> None:
    refused = resolve_market("SOL", [])
    assert isinstance(refused, MarketRefused)
    assert "none seen yet" in refused.message
