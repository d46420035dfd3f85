"""Gateway mechanics: shared market data per venue, markets loaded once, the priority gate,
credentials from env or files, and the per-venue ccxt options."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from guard.core.venues.ccxt_options import VENUES, ccxt_venue
from guard.gateway.base import PermanentError
from guard.gateway.ccxt import (
    AccountConfig,
    CcxtGateway,
    Credentials,
    PriorityGate,
    build_gateways,
    make_client,
    redirect_urls,
)
from tests.gateway.cases import CASES, ENV, RECORDED_AT, credentials, settings
from tests.gateway.helpers import Wire, replay


async def test_snapshots_when_two_accounts_share_a_venue_then_market_data_fetched_once() -> None:
    now = RECORDED_AT
    accounts = [
        AccountConfig("bn-one", "binance", credentials("binance")),
        AccountConfig("bn-two", "binance", credentials("binance")),
    ]
    gateway = CcxtGateway("binance", accounts, settings=settings(), environ=ENV, clock=lambda: now)
    wire = Wire()
    wire.attach(gateway.public)
    try:
        with replay("binance", "snapshot"):
            one, two = await asyncio.gather(
                gateway.fetch_snapshot("bn-one"), gateway.fetch_snapshot("bn-two")
            )
    finally:
        await gateway.close()
    paths = [s.path for s in wire.sent]
    assert paths.count("/binance/fapiPublic/fapi/v1/premiumIndex") == 1
    assert paths.count("/binance/fapiPublic/fapi/v1/depth") == 1
    assert paths.count("/binance/fapiPublic/fapi/v1/exchangeInfo") == 1  # markets loaded once
    assert gateway.market_data.fetches == 1
    assert one.market_data == two.market_data
    data = one.market_data["BTC/USDT:USDT"]
    assert data.best_bid is not None and data.bid_depth is not None and data.bid_depth > 0


async def test_market_data_when_epoch_passes_then_fetched_again() -> None:
    moments = iter(RECORDED_AT + timedelta(seconds=s) for s in (0, 0, 0, 5, 5, 5))
    gateway = CcxtGateway(
        "binance", [CASES["binance"].config()], settings=settings(), environ=ENV,
        clock=lambda: next(moments),
    )  # fmt: skip
    try:
        with replay("binance", "snapshot"):
            await gateway.raw_snapshot(CASES["binance"].account)
            await gateway.raw_snapshot(CASES["binance"].account)
    finally:
        await gateway.close()
    assert gateway.market_data.fetches == 2


async def test_markets_when_older_than_max_age_then_reloaded() -> None:
    times = [RECORDED_AT]
    gateway = CcxtGateway(
        "binance", [CASES["binance"].config()],
        settings=settings(markets_max_age=timedelta(minutes=30)), environ=ENV,
        clock=lambda: times[-1],
    )  # fmt: skip
    wire = Wire()
    wire.attach(gateway.public)
    try:
        with replay("binance", "snapshot"):
            await gateway.markets()
            await gateway.markets()
            times.append(times[0] + timedelta(minutes=31))
            await gateway.markets()
    finally:
        await gateway.close()
    assert [s.path for s in wire.sent].count("/binance/fapiPublic/fapi/v1/exchangeInfo") == 2


async def test_priority_gate_when_full_then_protective_work_goes_first() -> None:
    gate = PriorityGate(1)
    order: list[str] = []
    release = asyncio.Event()

    async def hold() -> None:
        async with gate.slot(1):
            await release.wait()

    async def work(name: str, priority: int) -> None:
        async with gate.slot(priority):
            order.append(name)

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0)
    tasks = [asyncio.create_task(work("poll-1", 1)), asyncio.create_task(work("poll-2", 1))]
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(work("reduce", 0)))
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(holder, *tasks)
    assert order == ["reduce", "poll-1", "poll-2"]


def test_credentials_when_env_and_file_then_values_resolved(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cr3t-value\n")
    creds = Credentials(env={"apiKey": "K"}, files={"secret": str(secret)})
    assert creds.resolve({"K": "key-value"}) == {"apiKey": "key-value", "secret": "s3cr3t-value"}


def test_credentials_when_missing_then_permanent_error_names_the_source(tmp_path: Path) -> None:
    with pytest.raises(PermanentError, match="environment variable K is unset"):
        Credentials(env={"apiKey": "K"}).resolve({})
    with pytest.raises(PermanentError, match="cannot read secret file"):
        Credentials(files={"secret": str(tmp_path / "absent")}).resolve({})


def test_options_when_hyperliquid_then_builder_fee_and_referrer_off() -> None:
    client = make_client(ccxt_venue("hyperliquid"))
    assert client.options["builderFee"] is False
    assert client.options["approvedBuilderFee"] is False
    assert client.options["refSet"] is True  # setReferrer is never sent
    assert client.has["fetchCurrencies"] is False


async def test_hyperliquid_when_client_initialises_then_no_request_is_made() -> None:
    client = make_client(ccxt_venue("hyperliquid"))
    sent = Wire()
    sent.attach(client)
    try:
        assert await client.initialize_client() is True
    finally:
        await client.close()
    assert sent.sent == []  # no approveBuilderFee, no setReferrer, no userAbstraction


def test_options_when_bybit_then_unified_account_declared_up_front() -> None:
    client = make_client(ccxt_venue("bybit"))
    assert client.options["enableUnifiedAccount"] is True
    assert client.options["enableUnifiedMargin"] is False


def test_options_when_each_venue_then_ccxt_id_and_swap_default() -> None:
    ids = {name: ccxt_venue(name).ccxt_id for name in VENUES}
    assert ids == {
        "binance": "binanceusdm", "bybit": "bybit", "okx": "okx",
        "hyperliquid": "hyperliquid", "dydx": "dydx",
    }  # fmt: skip
    with pytest.raises(ValueError, match="known venues"):
        ccxt_venue("ftx")


def test_redirect_when_nested_urls_then_every_url_points_at_the_base() -> None:
    urls = {"public": "https://api.{hostname}/v5", "nested": {"rest": "https://x.y/z"}}
    assert redirect_urls(urls, "http://127.0.0.1:1/") == {
        "public": "http://127.0.0.1:1/public/v5",
        "nested": {"rest": "http://127.0.0.1:1/rest/z"},
    }


def test_gateway_when_account_on_another_venue_then_refused() -> None:
    with pytest.raises(ValueError, match="is on okx, not binance"):
        CcxtGateway("binance", [CASES["okx"].config()])


def test_build_gateways_when_accounts_on_two_venues_then_one_gateway_per_venue() -> None:
    accounts = [
        AccountConfig("a", "binance", credentials("binance")),
        AccountConfig("b", "okx", credentials("okx")),
        AccountConfig("c", "binance", credentials("binance")),
    ]
    gateways = build_gateways(accounts)
    assert sorted(gateways) == ["binance", "okx"]
    assert sorted(gateways["binance"].accounts) == ["a", "c"]
