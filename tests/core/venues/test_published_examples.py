"""The venues' own published worked examples, computed through margin.py and the venue modules."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

from guard.core.domain import AccountSnapshot, Balance, MarginMode, Position, Side, frozen_map
from guard.core.margin import isolated_equity, liquidation_price, measure
from guard.core.venues import binance, bybit, dydx, hyperliquid
from guard.gateway.parsers import parse_snapshot
from tests.builders import T0
from tests.core.venues.examples import (
    BTC_BRACKETS,
    binance_faq_cross,
    dydx_cross,
    dydx_isolated,
    market,
    snapshot,
)

D = Decimal
CENT = D("0.01")


def cents(value: Decimal | None) -> Decimal:
    assert value is not None
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def test_liquidation_price_when_binance_faq_cross_example_then_both_published_prices():
    """Binance FAQ "How to Calculate Liquidation Price of USDⓈ-M Futures Contracts"
    (binance.com/en/support/faq/b3c689c1f50a44cabb3a84e663b81d93; venues.md §4.2 [BN-faq-liq]):
    WB 1,535,443.01, BTCUSDT long 109.488 @ 32,481.98 → LP 26,316.89, ETHUSDT long
    3,683.979 @ 1,456.84 → LP 1,153.26."""
    snap = binance_faq_cross()
    btc, eth = snap.positions
    assert cents(liquidation_price(btc, snap, binance.RULES)) == D("26316.89")
    assert cents(liquidation_price(eth, snap, binance.RULES)) == D("1153.26")


def test_measure_when_binance_faq_cross_example_then_faq_maintenance_and_pnl():
    """Same FAQ: MM(BTC) = 3,500,032.458 × 2.5 % − 16,300 = 71,200.81 and MM(ETH) =
    4,918,775.081 × 10 % − 135,365 = 356,512.508; uPnL −56,354.57 and −448,192.89."""
    metrics = measure(binance_faq_cross(), binance.RULES)
    btc, eth = metrics.positions
    assert cents(btc.maintenance_margin) == D("71200.81")
    assert eth.maintenance_margin.quantize(D("0.001")) == D("356512.508")
    assert cents(btc.unrealized_pnl) == D("-56354.57")
    assert cents(eth.unrealized_pnl) == D("-448192.89")


def test_liquidation_price_when_binance_margin_ratio_faq_example_then_25100_40():
    """Binance FAQ on margin ratio (binance.com/en/support/faq/25edcd7fe0e544839d0847b8cbb2e400,
    venues.md §4.2 [BN-faq-ratio]): wallet 500 USDT, long 1,000 USDT of BTCUSDT at 50,000
    (MMR 0.4 %, cum 0) → liquidation price 25,100.40, where the margin ratio reaches 100 %."""
    position = Position("BTC/USDT:USDT", Side.LONG, D("0.02"), D(50000), D(50000))
    snap = snapshot(
        [position],
        D(500),
        [market("BTC/USDT:USDT", binance.tiers_from_brackets(BTC_BRACKETS))],
        "binance",
    )
    price = liquidation_price(position, snap, binance.RULES)
    assert cents(price) == D("25100.40")
    assert price is not None
    at_liq = snapshot(
        [Position("BTC/USDT:USDT", Side.LONG, D("0.02"), D(50000), price)],
        D(500),
        list(snap.markets.values()),
        "binance",
    )
    assert measure(at_liq, binance.RULES).margin_ratio.quantize(D("1e-20")) == D(1)


def _bybit_isolated(side: Side, entry: str, leverage: int) -> Decimal | None:
    quantity = D(1)
    margin = quantity * D(entry) / leverage  # IM = position value / leverage
    position = Position(
        "BTC/USDT:USDT",
        side,
        quantity,
        D(entry),
        D(entry),
        MarginMode.ISOLATED,
        D(leverage),
        margin,
    )
    tiers = bybit.tiers_from_risk_limits(
        [
            {
                "riskLimitValue": "2000000",
                "maintenanceMargin": "0.005",
                "mmDeduction": "0",
                "maxLeverage": "100",
            }
        ]
    )
    snap = snapshot([position], D(0), [market("BTC/USDT:USDT", tiers)], "bybit")
    return liquidation_price(position, snap, bybit.RULES)


def test_liquidation_price_when_bybit_help_centre_isolated_examples_then_published_prices():
    """Bybit Help Center "Liquidation Price (USDT Contract)" (venues.md §5.2 [BY-hc]):
    long 1 BTC @ 20,000, 50x, MMR 0.5 % → 19,700; legacy article: long 1 BTC @ 10,000, 50x →
    9,850; short 1 BTC @ 8,000, 40x → 8,160 (fees excluded, as in the examples)."""
    assert _bybit_isolated(Side.LONG, "20000", 50) == D("19700")
    assert _bybit_isolated(Side.LONG, "10000", 50) == D("9850")
    assert _bybit_isolated(Side.SHORT, "8000", 40) == D("8160")


def test_liquidation_price_when_dydx_docs_isolated_example_then_3174_60():
    """dYdX v4 docs, concepts/trading/liquidations (venues.md §2.2 [DY-docs]): e = 1000,
    s = −3 ETH, p = 3000, MMF 5 % → p' = 10000/3.15 ≈ 3174.60; equity left = 5 % of notional."""
    snap = dydx_isolated()
    price = liquidation_price(snap.positions[0], snap, dydx.RULES)
    assert cents(price) == D("3174.60")
    assert price is not None
    moved = Position("ETH/USD:USD", Side.SHORT, D(3), D(3000), price)
    equity = snap.balance.wallet_balance + moved.unrealized_pnl
    assert equity.quantize(D("0.1")) == D("476.2")
    assert abs(equity - moved.notional * D("0.05")) < D("1e-20")


def test_liquidation_price_when_dydx_docs_cross_example_then_3380_95():
    """dYdX v4 docs cross example (venues.md §2.2 [DY-docs]): e = 1000, short 1.5 ETH @ 3000 at
    MMF 5 %, other position 1000 STRK @ 1.75 at MMF 10 % (MMR_o = 175) → ≈ 3380.95."""
    snap = dydx_cross()
    assert cents(liquidation_price(snap.positions[0], snap, dydx.RULES)) == D("3380.95")


# The real isolated ETH position quoted in ccxt's hyperliquid.py (fetch_positions comment,
# ccxt 4.5.90; venues.md §3.2 "hyperliquid-liq-isolated-real-response").
HL_REAL_ISOLATED = {
    "coin": "ETH",
    "cumFunding": {"allTime": "0.0", "sinceChange": "0.0", "sinceOpen": "0.0"},
    "entryPx": "2213.9",
    "leverage": {"rawUsd": "-475.23904", "type": "isolated", "value": "20"},
    "liquidationPx": "2125.00856238",
    "marginUsed": "24.88097",
    "maxLeverage": "50",
    "positionValue": "500.12001",
    "returnOnEquity": "0.0",
    "szi": "0.2259",
    "unrealizedPnl": "0.0",
}
HL_REAL_STATE = {
    "assetPositions": [{"position": HL_REAL_ISOLATED, "type": "oneWay"}],
    "crossMaintenanceMarginUsed": "0.0",
    "crossMarginSummary": {
        "accountValue": "100.0",
        "totalMarginUsed": "0.0",
        "totalNtlPos": "0.0",
        "totalRawUsd": "100.0",
    },
    "marginSummary": {
        "accountValue": "100.0",
        "totalMarginUsed": "0.0",
        "totalNtlPos": "0.0",
        "totalRawUsd": "100.0",
    },
    "time": "1704261007014",
    "withdrawable": "100.0",
}


def test_liquidation_price_when_real_hyperliquid_isolated_position_then_matches_venue():
    """The real Hyperliquid response quoted in ccxt's source: ETH isolated long, liquidationPx
    2125.00856238; parsed and measured through the project's code (MMR = 1/(2·50) = 1 %)."""
    raw = {
        "positions": [
            {
                "symbol": "ETH/USDC:USDC",
                "contractSize": None,
                "info": {"type": "oneWay", "position": HL_REAL_ISOLATED},
            }
        ],
        "balance": {"info": HL_REAL_STATE},
    }
    parsed = parse_snapshot("hyperliquid", "real", datetime(2024, 1, 3, tzinfo=UTC), raw)
    metrics = measure(parsed.snapshot, hyperliquid.RULES)
    (position,) = metrics.positions
    assert position.margin_mode is MarginMode.ISOLATED
    assert position.liquidation_price is not None
    assert abs(position.liquidation_price - D("2125.00856238")) < D("0.000001")
    # rawUsd + positionValue = marginUsed = the isolated position's equity
    assert isolated_equity(parsed.snapshot.positions[0]) == D("24.88097")


def test_docs_formula_when_real_hyperliquid_position_then_equals_generic_solver():
    """Hyperliquid docs' closed form (venues.md §3.2) gives the same 2125.0085628 as margin.py."""
    price = D("500.12001") / D("0.2259")
    available = D("24.88097") - D("500.12001") * D("0.01")
    docs = hyperliquid.docs_liquidation_price(Side.LONG, price, D("0.2259"), available, D("0.01"))
    position = Position(
        "ETH/USDC:USDC",
        Side.LONG,
        D("0.2259"),
        D("2213.9"),
        price,
        MarginMode.ISOLATED,
        D(20),
        D("24.88097") - (price - D("2213.9")) * D("0.2259"),
    )
    snap = AccountSnapshot(
        "a",
        "hyperliquid",
        T0,
        Balance("USDC", D(100)),
        (position,),
        frozen_map(
            {"ETH/USDC:USDC": market("ETH/USDC:USDC", hyperliquid.tiers_for_max_leverage(D(50)))}
        ),
    )
    generic = liquidation_price(position, snap, hyperliquid.RULES)
    assert generic is not None
    assert abs(docs - generic) < D("1e-18")
    assert abs(docs - D("2125.00856238")) < D("0.000001")
