"""The ccxt gateway, the only package importing ccxt (one client per account of one venue); this
face presents CcxtGateway (session -> snapshots -> orders), client set-up and error translation."""

from guard.gateway.ccxt.clients import (
    AccountConfig,
    Credentials,
    GatewaySettings,
    make_client,
    public_client,
    redirect_urls,
)
from guard.gateway.ccxt.errors import translate
from guard.gateway.ccxt.orders import CcxtGateway, build_gateways
from guard.gateway.ccxt.slots import PriorityGate
from guard.gateway.ccxt.structures import with_top_of_book

__all__ = [
    "AccountConfig",
    "CcxtGateway",
    "Credentials",
    "GatewaySettings",
    "PriorityGate",
    "build_gateways",
    "make_client",
    "public_client",
    "redirect_urls",
    "translate",
    "with_top_of_book",
]
