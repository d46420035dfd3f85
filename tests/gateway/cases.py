"""The venue cases shared by scripts/record_cassettes.py and the replay tests.

One account per venue with canary credentials, the one position the venue lab holds for it when
the cassettes are recorded (at RECORDED_AT, the crash scenario's first minute), and one
reduce-only plan per venue whose quantity is deliberately NOT on the venue step (so the test can
see it truncated, not rounded).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from guard.core.domain import MarginMode, OrderPlan, OrderType, Side
from guard.core.venues.registry import rules_for
from guard.gateway.ccxt import AccountConfig, Credentials, GatewaySettings
from guard.gateway.paper.scenarios import START

PORT = 18765
API_BASE = f"http://127.0.0.1:{PORT}"
CASSETTES = Path(__file__).parent / "cassettes"
RECORDED_AT: datetime = START  # the lab's virtual time when the cassettes were recorded


def api_base(venue: str) -> str:
    """The venue lab's base URL of `venue` as recorded (one lab prefix per venue)."""
    return f"{API_BASE}/{venue}"


# canary secrets: must never appear in a cassette, a log line or an audit row
CANARY_KEY = "CANARYKEY7f3a9c1e5b2d4f6a8c0e"
CANARY_SECRET = "CANARYSECRET9d8c7b6a5f4e3d2c1b0a"
CANARY_PASSWORD = "CANARYPASS1234"
CANARY_PRIVATE_KEY = "0x" + "c0ffee" * 10 + "abcd"  # 32 bytes, hex; signs offline
HL_WALLET = "0x1111111111111111111111111111111111111111"
DYDX_WALLET = "dydx14zzueazeh0hj67cghhf9jypslcf9sh2n5k6art"
DYDX_PRIVATE_KEY = "22" * 32  # the chain key of DYDX_WALLET (the lab checks the signer's address)
CANARIES = (
    CANARY_KEY,
    CANARY_SECRET,
    CANARY_PASSWORD,
    CANARY_PRIVATE_KEY,
    CANARY_PRIVATE_KEY[2:],
    DYDX_PRIVATE_KEY,
)

ENV = {
    "GUARD_TEST_KEY": CANARY_KEY,
    "GUARD_TEST_SECRET": CANARY_SECRET,
    "GUARD_TEST_PASSWORD": CANARY_PASSWORD,
    "GUARD_TEST_PRIVATE_KEY": CANARY_PRIVATE_KEY,
    "GUARD_TEST_HL_WALLET": HL_WALLET,
    "GUARD_TEST_DYDX_WALLET": DYDX_WALLET,
    "GUARD_TEST_DYDX_KEY": DYDX_PRIVATE_KEY,
}


def credentials(venue: str) -> Credentials:
    if venue in ("binance", "bybit"):
        return Credentials(env={"apiKey": "GUARD_TEST_KEY", "secret": "GUARD_TEST_SECRET"})
    if venue == "okx":
        return Credentials(
            env={
                "apiKey": "GUARD_TEST_KEY",
                "secret": "GUARD_TEST_SECRET",
                "password": "GUARD_TEST_PASSWORD",
            }
        )
    if venue == "hyperliquid":
        return Credentials(
            env={"walletAddress": "GUARD_TEST_HL_WALLET", "privateKey": "GUARD_TEST_PRIVATE_KEY"}
        )
    return Credentials(
        env={"walletAddress": "GUARD_TEST_DYDX_WALLET", "privateKey": "GUARD_TEST_DYDX_KEY"}
    )


@dataclass(frozen=True, slots=True)
class Seed:
    """The position the lab account holds when the cassettes are recorded."""

    quantity: Decimal
    entry_price: Decimal
    leverage: Decimal


@dataclass(frozen=True, slots=True)
class VenueCase:
    venue: str
    account: str
    symbol: str
    position_side: Side
    quantity: Decimal  # requested (off-step) base quantity
    truncated: str  # what must reach ccxt (contracts on OKX)
    margin_mode: MarginMode
    hedged: bool
    order_type: OrderType
    limit_price: Decimal
    seed: Seed
    collateral: Decimal = Decimal(20000)

    def config(self) -> AccountConfig:
        return AccountConfig(self.account, self.venue, credentials(self.venue))

    def plan(self) -> OrderPlan:
        rules = rules_for(self.venue)
        return OrderPlan(
            account=self.account,
            symbol=self.symbol,
            side=self.position_side.closing_order_side,
            quantity=self.quantity,
            position_side=self.position_side,
            margin_mode=self.margin_mode,
            client_order_id=rules.client_order_id(self.account, self.symbol, "band1", "slice0"),
            order_type=self.order_type,
            limit_price=self.limit_price,
            hedged=self.hedged,
            rule_ids=("exit-ladder",),
            reason="recorded case",
        )


CASES = {
    "binance": VenueCase(
        "binance",
        "bn-main",
        "BTC/USDT:USDT",
        Side.LONG,
        Decimal("0.0057"),
        "0.005",
        MarginMode.CROSS,
        False,
        OrderType.MARKET,
        Decimal("59870.5"),
        Seed(Decimal("0.009"), Decimal(60000), Decimal(20)),
        Decimal(60),
    ),
    "bybit": VenueCase(
        "bybit",
        "by-main",
        "ETH/USDT:USDT",
        Side.SHORT,
        Decimal("0.537"),
        "0.53",
        MarginMode.CROSS,
        True,
        OrderType.MARKET,
        Decimal("3050.15"),
        Seed(Decimal("1.25"), Decimal(3000), Decimal(10)),
    ),
    "okx": VenueCase(
        "okx",
        "okx-main",
        "BTC/USDT:USDT",
        Side.LONG,
        Decimal("0.12345"),
        "12.3",
        MarginMode.ISOLATED,
        True,
        OrderType.LIMIT_IOC,
        Decimal("59400.1"),
        Seed(Decimal("0.5"), Decimal(60000), Decimal(10)),
    ),
    "hyperliquid": VenueCase(
        "hyperliquid",
        "hl-main",
        "SOL/USDC:USDC",
        Side.SHORT,
        Decimal("1.27"),
        "1.2",
        MarginMode.ISOLATED,
        False,
        OrderType.LIMIT_IOC,
        Decimal("151.5"),
        Seed(Decimal(4), Decimal(150), Decimal(5)),
    ),
    "dydx": VenueCase(
        "dydx",
        "dydx-main",
        "BTC/USDC:USDC",
        Side.SHORT,
        Decimal("0.12345"),
        "0.123",
        MarginMode.ISOLATED,
        False,
        OrderType.LIMIT_IOC,
        Decimal(61000),
        Seed(Decimal("0.407"), Decimal(60000), Decimal(10)),
    ),
}


def settings(venue: str = "binance", **overrides: object) -> GatewaySettings:
    values: dict[str, object] = {
        "api_base": api_base(venue),
        "backoff_base": 0.001,
        "backoff_max": 0.01,
        "timeout_ms": 5000,
        "ccxt_rate_limit": False,  # replays need no request spacing
    }
    values.update(overrides)
    return GatewaySettings(**values)  # type: ignore[arg-type]
