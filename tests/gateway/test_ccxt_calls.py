"""Private calls per snapshot through the real ccxt clients on the recorded cassettes: the account
mode is re-read every `account_mode_ttl` or when a position opens, not every tick;
Binance's balance and mode come from one account read; a snapshot's reads run concurrently."""

from __future__ import annotations

import asyncio
import copy
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from guard.gateway.ccxt import CcxtGateway
from guard.gateway.ccxt.private_reads import mode_age
from tests.gateway.cases import CASES, ENV, settings
from tests.gateway.helpers import Wire, replay

START = datetime(2025, 11, 21, 4, 40, tzinfo=UTC)


def _gateway(venue: str) -> tuple[CcxtGateway, Wire, list[datetime]]:
    now = [START]
    case = CASES[venue]
    gateway = CcxtGateway(
        venue, [case.config()], settings=settings(venue), environ=ENV, clock=lambda: now[0]
    )
    wire = Wire()
    wire.attach(gateway.client(case.account))
    return gateway, wire, now


def _mode_reads(wire: Wire, venue: str) -> int:
    path = {"bybit": "/v5/account/info", "okx": "/api/v5/account/config"}[venue]
    return sum(s.path.endswith(path) for s in wire.sent)


async def test_bybit_when_ticks_within_mode_ttl_then_account_info_read_once() -> None:
    gateway, wire, now = _gateway("bybit")
    try:
        with replay("bybit", "snapshot"):
            for _ in range(3):
                await gateway.fetch_snapshot(CASES["bybit"].account)
                now[0] += timedelta(seconds=5)
            within = _mode_reads(wire, "bybit")
            now[0] += gateway.settings.account_mode_ttl
            await gateway.fetch_snapshot(CASES["bybit"].account)
    finally:
        await gateway.close()
    assert within == 1
    assert _mode_reads(wire, "bybit") == 2  # re-read once the ttl passed


async def test_okx_when_a_position_opens_then_account_config_read_again_not_when_one_closes() -> (
    None
):
    gateway, wire, now = _gateway("okx")
    client = gateway.client(CASES["okx"].account)
    original = client.fetch
    closed = [False]

    async def fetch(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        answer = await original(url, method, headers, body)
        if closed[0] and "/account/positions" in url:
            answer = copy.deepcopy(answer)
            answer["data"] = []  # every position closed since the last tick
        return answer

    client.fetch = fetch
    reads = []
    try:
        with replay("okx", "snapshot"):
            for flat in (False, False, True, True, False):
                closed[0] = flat
                await gateway.fetch_snapshot(CASES["okx"].account)
                reads.append(_mode_reads(wire, "okx"))
                now[0] += timedelta(seconds=5)
    finally:
        await gateway.close()
    # first read; unchanged; closed (the remaining positions' mode is the cached one: no read);
    # still flat; the positions open again (new to the cached keys): read at once
    assert reads == [1, 1, 1, 1, 2]


async def test_binance_when_snapshot_then_balance_and_mode_from_one_account_read() -> None:
    gateway, wire, _ = _gateway("binance")
    try:
        with replay("binance", "snapshot"):
            await gateway.fetch_snapshot(CASES["binance"].account)
            wire.sent.clear()
            await gateway.fetch_snapshot(CASES["binance"].account)
    finally:
        await gateway.close()
    assert [s.path.rsplit("/fapi/", 1)[-1] for s in wire.sent] == ["v3/positionRisk", "v2/account"]


async def test_snapshot_when_taken_then_private_reads_in_flight_together() -> None:
    gateway, _, _ = _gateway("bybit")
    client = gateway.client(CASES["bybit"].account)
    original = client.fetch
    flying, most = [0], [0]

    async def fetch(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        flying[0] += 1
        most[0] = max(most[0], flying[0])
        try:
            await asyncio.sleep(0.01)
            return await original(url, method, headers, body)
        finally:
            flying[0] -= 1

    client.fetch = fetch
    try:
        with replay("bybit", "snapshot"):
            await gateway.fetch_snapshot(CASES["bybit"].account)
    finally:
        await gateway.close()
    # USDT and USDC positions, wallet balance and account info at once (one after another: 1)
    assert most[0] == 4


async def test_snapshot_when_markets_known_then_market_data_read_with_the_private_reads() -> None:
    gateway, _, now = _gateway("binance")
    account = CASES["binance"].account
    private, public = gateway.client(account), gateway.public
    flying: dict[str, int] = {"private": 0, "public": 0}
    together = [0]  # public requests started while a private read was in flight

    def watch(client: Any, kind: str) -> None:
        original = client.fetch

        async def fetch(
            url: str, method: str = "GET", headers: Any = None, body: Any = None
        ) -> Any:
            flying[kind] += 1
            if kind == "public" and flying["private"]:
                together[0] += 1
            try:
                await asyncio.sleep(0.01)  # one round trip
                return await original(url, method, headers, body)
            finally:
                flying[kind] -= 1

        client.fetch = fetch

    watch(private, "private")
    watch(public, "public")
    try:
        with replay("binance", "snapshot"):
            await gateway.fetch_snapshot(account)  # the first: its markets are not known yet
            first = together[0]
            now[0] += gateway.settings.market_data_ttl  # a new market-data epoch
            await gateway.fetch_snapshot(account)
    finally:
        await gateway.close()
    assert first == 0  # the symbols come from the positions read
    assert together[0] >= 2  # funding and a book alongside positions and account: one round trip


async def test_close_when_many_accounts_then_clients_closed_together() -> None:
    closing, most = [0], [0]

    class Client:  # a ccxt client's close sleeps timeout_on_exit (0.25 s)
        throttler = None

        async def close(self) -> None:
            closing[0] += 1
            most[0] = max(most[0], closing[0])
            await asyncio.sleep(0.01)
            closing[0] -= 1

    case = CASES["binance"]
    configs = [replace(case.config(), name=f"bn-{i}") for i in range(10)]
    gateway = CcxtGateway(
        "binance", configs, settings=settings(), environ=ENV, client_factory=lambda v, s: Client()
    )
    for config in configs:
        gateway.client(config.name)
    await gateway.close()
    assert most[0] == 11  # ten accounts and the public client, not one after another


async def test_market_data_when_epoch_fresh_and_symbol_missing_then_only_that_symbol_fetched() -> (
    None
):
    books: list[str] = []

    class Public:  # the venue's shared public client: what the market-data epoch asks
        throttler = None

        async def fetch_funding_rates(self, symbols: list[str]) -> dict[str, Any]:
            return {s: {"symbol": s} for s in symbols}

        async def fetch_order_book(self, symbol: str, depth: int) -> dict[str, Any]:
            books.append(symbol)
            return {"bids": [], "asks": []}

        async def close(self) -> None:
            return None

    gateway = CcxtGateway(
        "binance",
        [CASES["binance"].config()],
        settings=settings(),
        environ=ENV,
        clock=lambda: START,
        client_factory=lambda v, s: Public(),
    )
    await gateway._market_data(["BTC/USDT:USDT"])
    shared = await gateway._market_data(["BTC/USDT:USDT", "ETH/USDT:USDT"])
    await gateway.close()
    assert books == ["BTC/USDT:USDT", "ETH/USDT:USDT"]  # BTC's book not fetched twice
    assert sorted(shared["order_books"]) == ["BTC/USDT:USDT", "ETH/USDT:USDT"]


def test_mode_age_when_many_accounts_then_spread_over_the_second_half_of_the_ttl() -> None:
    ttl = settings().account_mode_ttl
    ages = [mode_age(f"acct-{i}", settings()) for i in range(200)]
    assert all(ttl / 2 < age <= ttl for age in ages)
    assert len(set(ages)) == 200  # re-reads of accounts read together fall on different ticks
    assert mode_age("acct-7", settings()) == mode_age("acct-7", settings())  # stable
