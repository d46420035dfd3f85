"""The crash scenario through real ccxt over HTTP against the venue lab, ticked like `guard run`:
guarded 0 liquidations, every order accepted by the lab's rules, the same result within rounding
as the in-process paper run; and the lab starts in under 2 seconds."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from pathlib import Path

import pytest

from guard.gateway.paper.scenarios import crash
from guard.lab.demo import fresh_store, run_guarded, run_unguarded
from guard.lab.venue_lab import build_lab
from guard.lab.venue_lab.drive import run_over_wire
from guard.service.files import load_policies
from tests.venue_lab import ACCOUNTS, lab_accounts

ROOT = Path(__file__).resolve().parents[3]
WIRE_VENUES = ["binance", "hyperliquid", "bybit", "okx"]


@pytest.fixture(scope="module")
def policies():  # type: ignore[no-untyped-def]
    return load_policies([ROOT / "policies" / "default.yaml"])


@pytest.fixture(scope="module")
def paper_run(policies, tmp_path_factory):  # type: ignore[no-untyped-def]
    """The in-process paper run of the same scenario and policy (computed once per module)."""
    store = fresh_store(tmp_path_factory.mktemp("paper") / "paper.db")
    return asyncio.run(run_guarded(crash(), policies, store, wall_interval=0.001))


@pytest.mark.parametrize("name", WIRE_VENUES)
async def test_crash_when_guarded_over_the_wire_then_no_liquidation_and_same_as_paper(
    name: str,
    policies,
    paper_run,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    chosen = ACCOUNTS[name]
    assert run_unguarded(crash()).liquidations > 0  # the scenario does liquidate unguarded
    lab = build_lab(crash(), lab_accounts(), budgets={})
    await lab.start()
    try:
        run = await run_over_wire(
            lab,
            crash(),
            chosen.venue,
            chosen.account,
            chosen.credentials,
            policies,
            fresh_store(tmp_path / "wire.db"),
        )
    finally:
        await lab.stop()
    assert run.errors == ()
    assert run.summary.liquidations == 0
    assert run.rejections == 0 and lab.rejections == []  # every order passed the lab's rules
    assert run.summary.orders == run.orders_accepted > 0
    assert run.summary.orders == paper_run.orders
    cent = Decimal("0.01")
    assert abs(run.summary.final_equity - paper_run.final_equity) <= cent
    assert abs(run.summary.min_equity - paper_run.min_equity) <= cent


async def test_lab_when_started_then_serving_within_two_seconds() -> None:
    began = time.perf_counter()
    lab = build_lab(crash(), lab_accounts())
    await lab.start()
    try:
        elapsed = time.perf_counter() - began
        import aiohttp

        async with aiohttp.ClientSession() as session:
            url = lab.base_url("binance") + "/fapiPublic/fapi/v1/time"
            async with session.get(url) as response:
                assert response.status == 200
        served = time.perf_counter() - began
    finally:
        await lab.stop()
    print(f"venue lab start {elapsed * 1000:.1f} ms, first answer {served * 1000:.1f} ms")
    assert served < 2.0
