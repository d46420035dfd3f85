"""Per-venue ccxt ids and constructor options as plain data; pure, no I/O, no ccxt import.

Invariants: no option here makes ccxt send a write the operator did not ask for (no builder-fee
approval, no referrer registration on Hyperliquid), and no option makes the first private call
trigger extra discovery requests (Bybit unified-account detection). Credentials never live here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from guard.core.domain import frozen_map


@dataclass(frozen=True, slots=True)
class CcxtVenue:
    """How one venue is reached through ccxt: exchange id, constructor config, credential fields."""

    venue: str
    ccxt_id: str
    # merged into the exchange constructor config (``options``, ``has`` overrides, ...)
    config: Mapping[str, Any] = field(default_factory=frozen_map)
    # ccxt credential attribute -> what the operator supplies (documentation and validation)
    credentials: tuple[str, ...] = ()
    # credentials that only order placement needs (reads work without them)
    order_only_credentials: tuple[str, ...] = ()
    # the unified settle currency of the perpetuals the guard watches
    settle: str = "USDT"
    # True when ccxt order amounts are in contracts (OKX); the domain always uses base units
    amounts_in_contracts: bool = False
    # venues that have no native market order need a worst-acceptable price on every order
    needs_price: bool = False


BINANCE = CcxtVenue(
    venue="binance",
    ccxt_id="binanceusdm",
    config={
        # no currencies call (it is a private sapi endpoint on Binance)
        "has": {"fetchCurrencies": False},
        "options": {
            "defaultType": "swap",
            "defaultSubType": "linear",
            "fetchMarkets": {"types": ["linear"]},
            "adjustForTimeDifference": False,
            "warnOnFetchOpenOrdersWithoutSymbol": False,
            "fetchPositions": "positionRisk",
            # balance from /fapi/v2/account, which also states multiAssetsMargin (one call);
            # an option, not a param: ccxt 4.5 would send a `useV2` param on to the venue
            "fetchBalance": {"useV2": True},
        },
    },
    credentials=("apiKey", "secret"),
)

BYBIT = CcxtVenue(
    venue="bybit",
    ccxt_id="bybit",
    config={
        "has": {"fetchCurrencies": False},
        "options": {
            "defaultType": "swap",
            "defaultSubType": "linear",
            "defaultSettle": "USDT",
            "fetchMarkets": {"types": ["linear"]},
            "adjustForTimeDifference": False,
            # Unified Trading Account declared up front: without these two, the first private call
            # makes ccxt query /v5/user/query-api and /v5/account/info to discover them.
            "enableUnifiedMargin": False,
            "enableUnifiedAccount": True,
        },
    },
    credentials=("apiKey", "secret"),
)

OKX = CcxtVenue(
    venue="okx",
    ccxt_id="okx",
    config={
        "has": {"fetchCurrencies": False},
        "options": {
            "defaultType": "swap",
            "fetchMarkets": {"types": ["swap"]},
            "adjustForTimeDifference": False,
            # margin mode is passed per order (params.marginMode -> tdMode); this is only the
            # fallback ccxt would use, spelled out so nobody relies on it silently
            "defaultMarginMode": "cross",
            # one order per request on /trade/order (ccxt's default is the batch endpoint)
            "createOrder": "privatePostTradeOrder",
        },
    },
    credentials=("apiKey", "secret", "password"),
    amounts_in_contracts=True,
)

HYPERLIQUID = CcxtVenue(
    venue="hyperliquid",
    ccxt_id="hyperliquid",
    config={
        "has": {"fetchCurrencies": False},
        "options": {
            "defaultType": "swap",
            "fetchMarkets": {"types": ["swap"]},
            # builder fee off: ccxt otherwise approves a 0.01 % builder fee on the first order and
            # attaches builder 0x6530… with f=10 to every order
            "builderFee": False,
            "approvedBuilderFee": False,
            "feeInt": 0,
            # referrer off: ccxt otherwise sends setReferrer (code CCXT1) once per client
            "refSet": True,
            # read the perp clearinghouse state, not spot balances of a unified account
            "enableUnifiedMargin": False,
            "defaultSlippage": 0.05,
        },
    },
    credentials=("walletAddress", "privateKey"),
    order_only_credentials=("privateKey",),
    settle="USDC",
    needs_price=True,
)

DYDX = CcxtVenue(
    venue="dydx",
    ccxt_id="dydx",
    config={
        "options": {
            "defaultType": "swap",
            "chainName": "dydx-mainnet-1",
        },
    },
    # walletAddress is the dydx1… chain address; the signing key goes to options.privateKey
    credentials=("walletAddress", "privateKey"),
    order_only_credentials=("privateKey",),
    settle="USDC",
    needs_price=True,
)

VENUES: Mapping[str, CcxtVenue] = frozen_map(
    {v.venue: v for v in (BINANCE, BYBIT, OKX, HYPERLIQUID, DYDX)}
)


def ccxt_venue(venue: str) -> CcxtVenue:
    """The ccxt description of `venue`, or a ValueError naming the venues that exist."""
    try:
        return VENUES[venue]
    except KeyError:
        raise ValueError(
            f"venue {venue!r} has no ccxt gateway; known venues: {', '.join(sorted(VENUES))}"
        ) from None
