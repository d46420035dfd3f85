"""One connection pool per venue gateway, seen from the venue lab's side of the wire: two Binance
accounts' reads come over the connections the first account's opened, an idle connection is
kept for the configured keep-alive, and closing the gateway closes the shared session."""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from guard.core.venues.ccxt_options import CcxtVenue
from guard.gateway.ccxt import (
    AccountConfig,
    CcxtGateway,
    Credentials,
    GatewaySettings,
    make_client,
)
from guard.gateway.ccxt.slots import protective_reserve
from guard.lab.venue_lab import Fault, FaultKind, VenueLab
from tests.venue_lab import ACCOUNTS

BTC = "BTC/USDT:USDT"
NAMES = ("binance", "binance-hedge")  # two accounts of one venue, their own API keys


def _gateway(
    lab: VenueLab,
    factory: Callable[[CcxtVenue, Mapping[str, str] | None], Any] | None = None,
    **overrides: Any,
) -> CcxtGateway:
    """One Binance gateway over two lab accounts, as `guard run` builds one per venue."""
    env = {}
    configs = []
    for name in NAMES:
        chosen = ACCOUNTS[name]
        env.update({f"LAB_{chosen.account}_{k}": v for k, v in chosen.credentials.items()})
        credentials = Credentials(env={k: f"LAB_{chosen.account}_{k}" for k in chosen.credentials})
        configs.append(AccountConfig(chosen.account, "binance", credentials))
    settings = GatewaySettings(api_base=lab.base_url("binance"), ccxt_rate_limit=False)
    for key, value in overrides.items():
        object.__setattr__(settings, key, value)
    return CcxtGateway(
        "binance",
        configs,
        settings=settings,
        environ=env,
        clock=lab.book.now,
        client_factory=factory,
    )


async def test_reads_when_two_accounts_of_one_venue_then_second_reuses_first_connections(
    venue_lab: VenueLab,
) -> None:
    found = _gateway(venue_lab)
    try:
        await found.fetch_snapshot("bn")  # markets (public client) and the first account
        first = set(venue_lab.peers)
        venue_lab.peers.clear()
        await found.fetch_snapshot("bn-hedge")
        second = set(venue_lab.peers)
        assert found.client("bn").session is found.client("bn-hedge").session
        assert found.public.session is found.client("bn").session
    finally:
        await found.close()
    assert second  # the second account did read over the wire
    assert second <= first  # no new TCP connection: the pool the first account warmed


async def test_reads_when_idle_past_the_keepalive_then_new_connection_else_reused(
    venue_lab: VenueLab,
) -> None:
    pools = {}
    for keepalive in (timedelta(milliseconds=50), timedelta(seconds=120)):
        found = _gateway(venue_lab, keepalive=keepalive)
        try:
            await found.fetch_snapshot("bn")
            first = set(venue_lab.peers)
            venue_lab.peers.clear()
            await asyncio.sleep(0.3)  # a quiet spell
            await found.fetch_snapshot("bn")
            pools[keepalive] = (first, set(venue_lab.peers))
            venue_lab.peers.clear()
        finally:
            await found.close()
    short_first, short_after = pools[timedelta(milliseconds=50)]
    long_first, long_after = pools[timedelta(seconds=120)]
    assert not short_after & short_first  # dropped after 50 ms idle: new handshakes
    assert long_after and long_after <= long_first  # kept: the same connections


async def test_close_when_gateway_closed_then_shared_session_closed_without_warning(
    venue_lab: VenueLab,
) -> None:
    found = _gateway(venue_lab)
    await found.fetch_snapshot("bn")
    await found.fetch_snapshot("bn-hedge")
    shared = found.client("bn").session
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        await found.close()
        closed = shared.closed
        del found, shared  # aiohttp warns when an open session is collected
        gc.collect()
    unclosed = [str(w.message) for w in caught if "Unclosed" in str(w.message)]
    assert closed
    assert unclosed == []


async def test_client_when_account_needs_its_own_proxy_environment_then_keeps_own_session(
    venue_lab: VenueLab,
) -> None:
    settings = GatewaySettings(api_base=venue_lab.base_url("binance"), ccxt_rate_limit=False)

    def factory(venue: CcxtVenue, secrets: Mapping[str, str] | None) -> Any:
        client = make_client(venue, secrets, settings)
        if secrets and secrets.get("apiKey") == ACCOUNTS["binance-hedge"].credentials["apiKey"]:
            client.aiohttp_trust_env = True  # proxies from the environment: a session setting
        return client

    found = _gateway(venue_lab, factory=factory)
    try:
        await found.fetch_snapshot("bn")
        await found.fetch_snapshot("bn-hedge")
        own = found.client("bn-hedge").session
        assert found.client("bn").session is found.public.session
        assert own is not found.public.session
        assert own.trust_env
    finally:
        await found.close()
    assert own.closed  # ccxt closed the session it opened itself


async def test_lookups_when_protective_work_fills_cap_and_reserve_then_each_on_its_own_connection(
    venue_lab: VenueLab,
) -> None:
    found = _gateway(venue_lab, max_concurrent=1)  # one slot, and the protective reserve of 2
    slots = 1 + protective_reserve(1)
    try:
        await found.fetch_snapshot("bn")  # markets loaded: only the lookups below go out
        venue_lab.arm(Fault(FaultKind.LATENCY, "binance", "fetch_order", slots, seconds=0.3))
        venue_lab.peers.clear()
        cids = [f"h20b-{n}" for n in range(slots)]
        found_orders = await asyncio.gather(*(found.fetch_order("bn", BTC, cid) for cid in cids))
        lookups = list(venue_lab.peers)
    finally:
        await found.close()
    assert found_orders == [None] * slots  # never placed
    # all in flight at once (the gate let them): the pool did not queue any behind another
    assert len(lookups) == slots and len(set(lookups)) == slots
