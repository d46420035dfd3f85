"""The `venue_lab` pytest fixture (registered in tests/conftest.py): the venue lab on 127.0.0.1
over the built-in crash scenario, one account per venue, and helpers to reach it through ccxt."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from guard.gateway.ccxt import CcxtGateway, make_client
from guard.gateway.paper.scenarios import crash
from guard.lab.venue_lab import LabAccount, VenueLab, build_lab
from guard.lab.venue_lab.drive import lab_gateway

# lab credentials: a real venue never sees them (the lab binds loopback only)
LAB_SECRET = "labsecret-0123456789abcdef"
HL_WALLET = "0x" + "ab" * 20
HL_PRIVATE_KEY = "0x" + "11" * 32
DYDX_WALLET = "dydx14zzueazeh0hj67cghhf9jypslcf9sh2n5k6art"
DYDX_PRIVATE_KEY = "22" * 32  # the dYdX chain key (hex secp256k1), signs offline


@dataclass(frozen=True, slots=True)
class LabVenue:
    venue: str
    account: str  # the paper account behind it
    credentials: dict[str, str]
    hedge_mode: bool = False
    mode: str | None = None  # the venue's account mode field (LabAccount.mode)

    def lab_account(self) -> LabAccount:
        key = self.credentials.get("apiKey") or self.credentials["walletAddress"]
        return LabAccount(
            self.venue,
            key,
            self.account,
            secret=self.credentials.get("secret"),
            passphrase=self.credentials.get("password"),
            hedge_mode=self.hedge_mode,
            mode=self.mode,
        )


ACCOUNTS = {
    "binance": LabVenue("binance", "bn", {"apiKey": "lab-bn-key", "secret": LAB_SECRET}),
    "binance-hedge": LabVenue(
        "binance", "bn-hedge", {"apiKey": "lab-bnh-key", "secret": LAB_SECRET}, hedge_mode=True
    ),
    "bybit": LabVenue("bybit", "by", {"apiKey": "lab-by-key", "secret": LAB_SECRET}),
    "bybit-hedge": LabVenue(
        "bybit", "by-hedge", {"apiKey": "lab-byh-key", "secret": LAB_SECRET}, hedge_mode=True
    ),
    "okx": LabVenue(
        "okx", "okx", {"apiKey": "lab-okx-key", "secret": LAB_SECRET, "password": "lab-pass"}
    ),
    "okx-hedge": LabVenue(
        "okx",
        "okx-hedge",
        {"apiKey": "lab-okxh-key", "secret": LAB_SECRET, "password": "lab-pass"},
        hedge_mode=True,
    ),
    "dydx": LabVenue(
        "dydx", "dydx", {"walletAddress": DYDX_WALLET, "privateKey": DYDX_PRIVATE_KEY}
    ),
    "hyperliquid": LabVenue(
        "hyperliquid", "hl", {"walletAddress": HL_WALLET, "privateKey": HL_PRIVATE_KEY}
    ),
}


def lab_accounts() -> list[LabAccount]:
    return [a.lab_account() for a in ACCOUNTS.values()]


def gateway(lab: VenueLab, name: str, **settings: object) -> CcxtGateway:
    """A CcxtGateway of lab account `name` (a key of ACCOUNTS) pointed at the lab."""
    chosen = ACCOUNTS[name]
    return lab_gateway(lab, chosen.venue, chosen.account, chosen.credentials, **settings)


async def ccxt_client(lab: VenueLab, name: str) -> Any:
    """A plain ccxt client of lab account `name` with the guard's options, markets loaded."""
    chosen = ACCOUNTS[name]
    from guard.core.venues.ccxt_options import ccxt_venue
    from guard.gateway.ccxt import GatewaySettings

    client = make_client(
        ccxt_venue(chosen.venue),
        chosen.credentials,
        GatewaySettings(api_base=lab.base_url(chosen.venue), ccxt_rate_limit=False),
    )
    await client.load_markets()
    return client


@pytest.fixture
async def venue_lab() -> AsyncIterator[VenueLab]:
    """A started lab over the crash scenario (no rate limits unless a test sets budgets)."""
    lab = build_lab(crash(), lab_accounts(), budgets={})
    await lab.start()
    try:
        yield lab
    finally:
        await lab.stop()
