"""Snapshots of the venues' published worked examples, built from plain values (no I/O)."""

from __future__ import annotations

from decimal import Decimal

from guard.core.domain import (
    AccountSnapshot,
    Balance,
    MarginMode,
    MarketSpec,
    Position,
    Side,
    frozen_map,
)
from guard.core.venues import binance, dydx
from tests.builders import T0

D = Decimal

# Binance USDⓈ-M brackets of the FAQ's era (2021), as /fapi/v1/leverageBracket rows. The FAQ
# quotes BTCUSDT at MMR 2.5 % / cum 16,300 and ETHUSDT at 10 % / cum 135,365; the lower rows
# are the ones whose maintenance-amount chain yields those cums (FAQ: "Level 3 = 250,000 ×
# (1 % − 0.5 %) + 50 = 1,300 USDT").
BTC_BRACKETS = [
    {
        "notionalFloor": "0",
        "notionalCap": "50000",
        "maintMarginRatio": "0.004",
        "cum": "0",
        "initialLeverage": "125",
    },
    {
        "notionalFloor": "50000",
        "notionalCap": "250000",
        "maintMarginRatio": "0.005",
        "cum": "50",
        "initialLeverage": "100",
    },
    {
        "notionalFloor": "250000",
        "notionalCap": "1000000",
        "maintMarginRatio": "0.01",
        "cum": "1300",
        "initialLeverage": "50",
    },
    {
        "notionalFloor": "1000000",
        "notionalCap": "5000000",
        "maintMarginRatio": "0.025",
        "cum": "16300",
        "initialLeverage": "20",
    },
    {
        "notionalFloor": "5000000",
        "notionalCap": "20000000",
        "maintMarginRatio": "0.05",
        "cum": "141300",
        "initialLeverage": "10",
    },
]
ETH_BRACKETS = [
    {
        "notionalFloor": "0",
        "notionalCap": "10000",
        "maintMarginRatio": "0.005",
        "cum": "0",
        "initialLeverage": "100",
    },
    {
        "notionalFloor": "10000",
        "notionalCap": "100000",
        "maintMarginRatio": "0.0065",
        "cum": "15",
        "initialLeverage": "75",
    },
    {
        "notionalFloor": "100000",
        "notionalCap": "500000",
        "maintMarginRatio": "0.01",
        "cum": "365",
        "initialLeverage": "50",
    },
    {
        "notionalFloor": "500000",
        "notionalCap": "1000000",
        "maintMarginRatio": "0.02",
        "cum": "5365",
        "initialLeverage": "25",
    },
    {
        "notionalFloor": "1000000",
        "notionalCap": "2000000",
        "maintMarginRatio": "0.05",
        "cum": "35365",
        "initialLeverage": "10",
    },
    {
        "notionalFloor": "2000000",
        "notionalCap": "5000000",
        "maintMarginRatio": "0.1",
        "cum": "135365",
        "initialLeverage": "5",
    },
    {
        "notionalFloor": "5000000",
        "notionalCap": "10000000",
        "maintMarginRatio": "0.125",
        "cum": "260365",
        "initialLeverage": "4",
    },
]


def market(symbol: str, tiers: object) -> MarketSpec:
    base, rest = symbol.split("/")
    quote = rest.split(":")[0]
    return MarketSpec(symbol=symbol, base=base, quote=quote, tiers=tiers)  # type: ignore[arg-type]


def snapshot(
    positions: list[Position], wallet: Decimal, markets: list[MarketSpec], venue: str
) -> AccountSnapshot:
    return AccountSnapshot(
        account="example",
        venue=venue,
        taken_at=T0,
        balance=Balance("USDT", wallet),
        positions=tuple(positions),
        markets=frozen_map({m.symbol: m for m in markets}),
    )


def binance_faq_cross() -> AccountSnapshot:
    """[BN-faq-liq] example: WB 1,535,443.01; BTCUSDT long 109.488 @ 32,481.98 and ETHUSDT long
    3,683.979 @ 1,456.84, marks such that the FAQ's notionals 3,500,032.458 and 4,918,775.081
    (hence its MM 71,200.81 and 356,512.508 and uPnL −56,354.57 and −448,192.89) hold."""
    btc = Position(
        "BTC/USDT:USDT", Side.LONG, D("109.488"), D("32481.98"), D("3500032.458") / D("109.488")
    )
    eth = Position(
        "ETH/USDT:USDT", Side.LONG, D("3683.979"), D("1456.84"), D("4918775.081") / D("3683.979")
    )
    return snapshot(
        [btc, eth],
        D("1535443.01"),
        [
            market("BTC/USDT:USDT", binance.tiers_from_brackets(BTC_BRACKETS)),
            market("ETH/USDT:USDT", binance.tiers_from_brackets(ETH_BRACKETS)),
        ],
        "binance",
    )


def dydx_market(symbol: str, mmf: str) -> MarketSpec:
    return market(symbol, dydx.tiers(D(mmf) * 2, D(mmf)))


def dydx_isolated() -> AccountSnapshot:
    """[DY-docs] liquidations: e = 1000, s = −3 ETH, p = 3000, MMF 5 % → 10000/3.15 ≈ 3174.60."""
    eth = Position("ETH/USD:USD", Side.SHORT, D(3), D(3000), D(3000), MarginMode.CROSS)
    return snapshot([eth], D(1000), [dydx_market("ETH/USD:USD", "0.05")], "dydx")


def dydx_cross() -> AccountSnapshot:
    """[DY-docs] cross example: e = 1000, short 1.5 ETH @ 3000 (MMF 5 %) and 1000 STRK @ 1.75
    (MMF 10 %, MMR_o = 175) → (1000 + 4500 − 175)/1.575 ≈ 3380.95."""
    eth = Position("ETH/USD:USD", Side.SHORT, D("1.5"), D(3000), D(3000))
    strk = Position("STRK/USD:USD", Side.LONG, D(1000), D("1.75"), D("1.75"))
    return snapshot(
        [eth, strk],
        D(1000),
        [dydx_market("ETH/USD:USD", "0.05"), dydx_market("STRK/USD:USD", "0.1")],
        "dydx",
    )
