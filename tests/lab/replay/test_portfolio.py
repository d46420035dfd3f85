"""The portfolio file: strict validation with file:line: field errors; venue rules lookup."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from guard.core.domain import MarginMode, Side
from guard.core.yaml_model import ConfigError
from guard.lab.replay.portfolio import load_portfolio, rules_for

GOOD = """\
venue: binance
collateral: 10000
positions:
  - symbol: BTCUSDT
    side: long
    quantity: 1.5
    entry_price: 64628
    leverage: 10x
  - symbol: ETH/USDT:USDT
    side: short
    quantity: 10
    entry_price: 3000
    leverage: 5
    margin_mode: isolated
    margin: 6000
markets:
  BTCUSDT: {amount_step: "0.001", price_tick: "0.1", taker_fee: "0.04%"}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "portfolio.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_load_portfolio_when_valid_then_positions_and_markets_typed(tmp_path: Path) -> None:
    portfolio = load_portfolio(write(tmp_path, GOOD))
    btc, eth = portfolio.positions
    assert btc.symbol == "BTC/USDT:USDT" and btc.side is Side.LONG and btc.leverage == 10
    assert eth.margin_mode is MarginMode.ISOLATED and eth.posted_margin == Decimal(6000)
    assert portfolio.net_side("ETH/USDT:USDT") is Side.SHORT
    spec = portfolio.market_specs(("BTC/USDT:USDT",))["BTC/USDT:USDT"]
    assert spec.taker_fee_rate == Decimal("0.0004") and spec.price_tick == Decimal("0.1")


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        (
            "quantity: 1.5",
            "quantity: -1",
            ":6: positions[0].quantity: Input should be greater than 0",
        ),
        ("side: long", "side: up", ":5: positions[0].side:"),
        (
            "    leverage: 10x\n",
            "    leverage: 10x\n    colour: red\n",
            "positions[0].colour: unknown key",
        ),
        (
            "collateral: 10000",
            "collateral: lots",
            ":2: collateral: amount must be a decimal number",
        ),
    ],
)
def test_load_portfolio_when_field_is_bad_then_error_names_line_and_field(
    tmp_path: Path, old: str, new: str, where: str
) -> None:
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ConfigError) as caught:
        load_portfolio(path)
    assert where in str(caught.value)
    assert str(caught.value).startswith(str(path))


def test_load_portfolio_when_margin_on_cross_position_then_error_says_isolated_only(
    tmp_path: Path,
) -> None:
    text = GOOD.replace("    leverage: 10x\n", "    leverage: 10x\n    margin: 100\n", 1)
    with pytest.raises(ConfigError, match="applies to isolated positions only"):
        load_portfolio(write(tmp_path, text))


def test_load_portfolio_when_isolated_margin_exceeds_collateral_then_error(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError, match="use up the whole collateral"):
        load_portfolio(write(tmp_path, GOOD.replace("margin: 6000", "margin: 20000")))


def test_rules_for_when_known_or_unknown_venue_then_rules_or_listing_error() -> None:
    assert rules_for("paper").name == "paper"
    assert rules_for("binance").name == "binance"
    with pytest.raises(ValueError, match="unknown venue"):
        rules_for("mtgox")
