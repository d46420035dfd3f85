"""Funding paid since T over HTTP: the venue lab serves each venue's funding-history endpoints in
its wire format from the paper engine's settlements, and `guard report funding` (the CLI, the
ccxt gateway at the account's base_url) reads them back per position with the right sign.

Hand check: the crash scenario's hourly rate is +0.01 % (longs pay); the unguarded crash
liquidates every position before its second funding time, so each long pays once, at 01:00:
BTC 1.2 x mark(01:00) x 0.0001, ETH 18 x mark x 0.0001, SOL 100 x mark x 0.0001 (marks from
the scenario's own price path)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from guard.gateway.paper.scenarios import START, crash
from guard.lab.venue_lab import VenueLab, build_lab
from tests.operator.conftest import run
from tests.venue_lab import ACCOUNTS, gateway, lab_accounts

RATE = Decimal("0.0001")
SEEDED = {"BTC": Decimal("1.2"), "ETH": Decimal(18), "SOL": Decimal(100)}


def expected(lab: VenueLab) -> dict[str, Decimal]:
    """Base -> what its long paid at 01:00, by hand from the scenario's marks."""
    at = START + timedelta(hours=1)
    return {
        base: qty * lab.book.paper.path.price(f"{base}/USDT:USDT", at) * RATE
        for base, qty in SEEDED.items()
    }


@pytest.fixture
def threaded_lab() -> Iterator[VenueLab]:
    """The lab on its own event loop in a thread (the CLI runs asyncio.run in this one)."""
    loop = asyncio.new_event_loop()
    lab = build_lab(crash(), lab_accounts(), budgets={})
    worker = threading.Thread(target=loop.run_forever, daemon=True)
    worker.start()
    asyncio.run_coroutine_threadsafe(lab.start(), loop).result(10)
    lab.book.advance_to(START + timedelta(hours=3, minutes=30))
    try:
        yield lab
    finally:
        asyncio.run_coroutine_threadsafe(lab.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        worker.join(5)
        loop.close()


def _config(tmp_path: Path, lab: VenueLab, name: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    chosen = ACCOUNTS[name]
    refs = []
    for key, value in chosen.credentials.items():
        env = f"FUNDING_WIRE_{key.upper()}"
        monkeypatch.setenv(env, value)
        refs.append(f"{key}: {{env: {env}}}")
    (tmp_path / "policy.yaml").write_text(
        "version: 1\nname: carry\nrules:\n"
        '  - {id: carry, kind: funding_threshold, threshold: "50%", annualised: true}\n'
    )
    config = tmp_path / "guard.yaml"
    config.write_text(
        "version: 1\n"
        f"service: {{database_url: 'sqlite:///{tmp_path / 'g.db'}'}}\n"
        "accounts:\n"
        f"  - name: {chosen.account}\n"
        f"    venue: {chosen.venue}\n"
        f"    base_url: {lab.base_url(chosen.venue)}\n"
        f"    credentials: {{{', '.join(refs)}}}\n"
        "    policies: [policy.yaml]\n"
    )
    return config


@pytest.mark.parametrize("name", ["binance", "dydx"])
def test_report_funding_when_read_over_the_wire_then_each_long_paid_its_hand_checked_amount(
    name: str, threaded_lab: VenueLab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tmp_path, threaded_lab, name, monkeypatch)
    ran = run("report", "funding", "--config", str(config), "--since", START.isoformat(), "--json")
    assert ran.code == 0, ran.text
    (report,) = json.loads(ran.raw.stdout)["reports"]
    assert report["history_available"] is True
    paid = {row["symbol"].split("/")[0]: Decimal(row["paid_since"]) for row in report["positions"]}
    sides = {row["side"] for row in report["positions"]}
    assert sides == {"long"}
    assert paid == expected(threaded_lab)  # positive: the longs paid at a positive rate
    assert Decimal(report["paid_since"]) == sum(expected(threaded_lab).values())


@pytest.mark.parametrize("name", ["binance", "okx", "bybit", "dydx", "hyperliquid"])
async def test_gateway_when_every_venue_is_read_over_the_wire_then_same_payments(
    name: str, venue_lab: VenueLab
) -> None:
    venue_lab.book.advance_to(START + timedelta(hours=3, minutes=30))
    chosen = gateway(venue_lab, name)
    try:
        payments = await chosen.fetch_funding_history(ACCOUNTS[name].account, START)
    finally:
        await chosen.close()
    got = {p.symbol.split("/")[0]: p.amount for p in payments}
    assert got == expected(venue_lab)
    assert {p.side.value for p in payments} == {"long"}
    assert all(p.at == START + timedelta(hours=1) for p in payments)


@pytest.mark.parametrize("name", ["binance", "okx", "bybit", "dydx"])
async def test_gateway_when_pages_are_small_then_every_payment_read_once(
    name: str, venue_lab: VenueLab, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pages of 2 where the venue pages by id, cursor or page number (OKX bills, Bybit, dYdX):
    # the three markets settle at one time (01:00), so a page boundary falls inside it; the
    # settled-rate histories (01:00, 02:00, 03:00) page by time (Binance forward, OKX back).
    # (Binance income pages by time: more rows at one millisecond than a page is an error.)
    from guard.gateway.ccxt import funding_history

    for size in ("BINANCE_RATE_PAGE", "OKX_PAGE", "BYBIT_PAGE", "DYDX_PAGE"):
        monkeypatch.setattr(funding_history, size, 2)
    venue_lab.book.advance_to(START + timedelta(hours=3, minutes=30))
    chosen = gateway(venue_lab, name)
    try:
        payments = await chosen.fetch_funding_history(ACCOUNTS[name].account, START)
    finally:
        await chosen.close()
    assert sorted(p.symbol.split("/")[0] for p in payments) == ["BTC", "ETH", "SOL"]
    assert {p.symbol.split("/")[0]: p.amount for p in payments} == expected(venue_lab)
