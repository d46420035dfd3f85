"""The venue cases shared by scripts/record_cassettes.py and the replay tests.

One account per venue with canary credentials, and one reduce-only plan per venue whose
quantity is deliberately NOT on the venue step (so the test can see it truncated, not rounded).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from guard.core.domain import MarginMode, OrderPlan, OrderType, Side
from guard.core.venues.registry import rules_for
from guard.gateway.ccxt import AccountConfig, Credentials, GatewaySettings

PORT = 18765
API_BASE = f"http://127.0.0.1:{PORT}"
CASSETTES = Path(__file__).parent / "cassettes"

# canary secrets: must never appear in a cassette, a log line or an audit row
CANARY_KEY = "CANARYKEY7f3a9c1e5b2d4f6a8c0e"
CANARY_SECRET = "CANARYSECRET9d8c7b6a5f4e3d2c1b0a"
CANARY_PASSWORD = "CANARYPASS1234"
CANARY_PRIVATE_KEY = "0x" + "c0ffee" * 10 + "abcd"  # 32 bytes, hex; signs offline
HL_WALLET = "0x1111111111111111111111111111111111111111"
DYDX_WALLET = "dydx14zzueazeh0hj67cghhf9jypslcf9sh2n5k6art"
CANARIES = (CANARY_KEY, CANARY_SECRET, CANARY_PASSWORD, CANARY_PRIVATE_KEY, CANARY_PRIVATE_KEY[2:])

ENV = {
    "GUARD_TEST_KEY": CANARY_KEY,
    "GUARD_TEST_SECRET": CANARY_SECRET,
    "GUARD_TEST_PASSWORD": CANARY_PASSWORD,
    "GUARD_TEST_PRIVATE_KEY": CANARY_PRIVATE_KEY,
    "GUARD_TEST_HL_WALLET": HL_WALLET,
    "GUARD_TEST_DYDX_WALLET": DYDX_WALLET,
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
    wallet = "GUARD_TEST_HL_WALLET" if venue == "hyperliquid" else "GUARD_TEST_DYDX_WALLET"
    return Credentials(env={"walletAddress": wallet, "privateKey": "GUARD_TEST_PRIVATE_KEY"})


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
        Decimal("66827.6"),
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
    ),
    "okx": VenueCase(
        "okx",
        "okx-main",
        "BTC/USDT:USDT",
        Side.LONG,
        Decimal("0.12345"),
        "12.34",
        MarginMode.ISOLATED,
        True,
        OrderType.LIMIT_IOC,
        Decimal("64000.1"),
    ),
    "hyperliquid": VenueCase(
        "hyperliquid",
        "hl-main",
        "HYPE/USDC:USDC",
        Side.SHORT,
        Decimal("1.239"),
        "1.23",
        MarginMode.ISOLATED,
        False,
        OrderType.LIMIT_IOC,
        Decimal("39.5"),
    ),
    "dydx": VenueCase(
        "dydx",
        "dydx-main",
        "BTC/USDC:USDC",
        Side.SHORT,
        Decimal("0.12345"),
        "0.1234",
        MarginMode.ISOLATED,
        False,
        OrderType.LIMIT_IOC,
        Decimal("120000"),
    ),
}


def settings(**overrides: object) -> GatewaySettings:
    values: dict[str, object] = {
        "api_base": API_BASE,
        "backoff_base": 0.001,
        "backoff_max": 0.01,
        "timeout_ms": 5000,
        "ccxt_rate_limit": False,  # replays need no request spacing
    }
    values.update(overrides)
    return GatewaySettings(**values)  # type: ignore[arg-type]
