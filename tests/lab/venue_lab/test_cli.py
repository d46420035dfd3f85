"""`guard venue-lab`: account options parsed or refused with what would be right; the command
serves every venue and prints each base_url; a busy port ends in one clear line."""

from __future__ import annotations

import asyncio
import socket
from decimal import Decimal

import pytest

from guard.gateway.paper.scenarios import crash
from guard.lab.venue_lab.cli_support import default_accounts, make_lab, parse_account, serve
from tests.operator.conftest import run


def test_parse_account_when_well_formed_then_lab_account() -> None:
    account = parse_account("okx:k1:p1:s3cret:pass:hedge")
    assert (account.venue, account.key, account.paper) == ("okx", "k1", "p1")
    assert (account.secret, account.passphrase, account.hedge_mode) == ("s3cret", "pass", True)


def test_parse_account_when_mode_given_then_lab_account_in_that_mode() -> None:
    account = parse_account("bybit:k1:p1:s3cret:hedge:mode=PORTFOLIO_MARGIN")
    assert (account.venue, account.hedge_mode, account.mode) == ("bybit", True, "PORTFOLIO_MARGIN")
    assert parse_account("okx:k1:p1:s:pp:mode=3").mode == "3"


@pytest.mark.parametrize("text", ["bybit:k:p:mode=CROSS", "dydx:k:p:mode=default"])
def test_parse_account_when_mode_unknown_to_the_venue_then_error_lists_its_modes(
    text: str,
) -> None:
    with pytest.raises(ValueError, match="has no account mode"):
        parse_account(text)


def test_build_lab_when_account_mode_unknown_to_the_venue_then_value_error() -> None:
    from guard.gateway.paper.scenarios import crash
    from guard.lab.venue_lab import LabAccount, build_lab

    with pytest.raises(ValueError, match="okx has no account mode '5'; one of 1, 2, 3, 4"):
        build_lab(crash(), [LabAccount("okx", "k", "p", mode="5")])


@pytest.mark.parametrize("text", ["foo:1", "kraken:k:p", "binance::p", "binance:k"])
def test_parse_account_when_malformed_then_error_says_what_is_right(text: str) -> None:
    with pytest.raises(ValueError, match="expected VENUE:KEY:PAPER"):
        parse_account(text)


def test_cli_when_account_malformed_then_exit_2_with_reason() -> None:
    ran = run("venue-lab", "--account", "kraken:k:p")
    assert ran.code == 2 and "expected VENUE:KEY:PAPER" in ran.text


def test_default_accounts_when_none_given_then_one_per_venue() -> None:
    venues = sorted(a.venue for a in default_accounts())
    assert venues == ["binance", "bybit", "dydx", "hyperliquid", "okx"]


async def test_serve_when_started_then_every_venue_answers_and_stops_on_cancel() -> None:
    lab = make_lab(crash(), default_accounts(), 0, Decimal(60))
    ready = asyncio.Event()
    task = asyncio.create_task(serve(lab, ready))
    await asyncio.wait_for(ready.wait(), 5)
    try:
        with socket.create_connection(("127.0.0.1", lab.port), timeout=2):
            pass
        assert sorted(lab.modules) == ["binance", "bybit", "dydx", "hyperliquid", "okx"]
        assert lab.book.now() >= crash().start  # paced: the scenario was moved to start now
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
