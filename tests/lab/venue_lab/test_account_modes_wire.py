"""Refused account modes end to end over the wire: the lab presents each mode as the venue states
it (Hyperliquid userAbstraction, Bybit /v5/account/info marginMode and unifiedMarginStatus, OKX
/api/v5/account/config acctLv, Binance multiAssetsMargin; venues.md §10, docs/venues-modes.md)
and the guard's real ccxt gateway refuses the account with a PermanentError naming the mode;
through the service the account is disabled and nothing is sent, while the same account in a
handled mode is read."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from guard.gateway.base import PermanentError, UnsupportedAccountMode
from guard.gateway.paper.scenarios import crash
from guard.lab.demo import fresh_store
from guard.lab.venue_lab import build_lab
from guard.lab.venue_lab.drive import run_over_wire
from guard.service.files import load_policies
from tests.venue_lab import ACCOUNTS, LabVenue, gateway

ROOT = Path(__file__).resolve().parents[3]

# (lab account, mode as the venue states it, the field and value the refusal must name)
REFUSED = [
    ("hyperliquid", "unifiedAccount", "userAbstraction = 'unifiedAccount'"),
    ("hyperliquid", "portfolioMargin", "userAbstraction = 'portfolioMargin'"),
    ("hyperliquid", "dexAbstraction", "userAbstraction = 'dexAbstraction'"),
    ("bybit", "PORTFOLIO_MARGIN", "marginMode = 'PORTFOLIO_MARGIN'"),
    ("bybit", "CLASSIC", "unifiedMarginStatus = 1"),
    ("okx", "1", "acctLv = '1'"),
    ("okx", "3", "acctLv = '3'"),
    ("okx", "4", "acctLv = '4'"),
    ("binance", "MULTI_ASSETS", "multiAssetsMargin = True"),
]
# the handled modes of the same venues, stated explicitly (the control)
HANDLED = [
    ("hyperliquid", "default"),
    ("hyperliquid", "disabled"),
    ("bybit", "REGULAR_MARGIN"),
    ("bybit", "ISOLATED_MARGIN"),
    ("okx", "2"),
]


def _with_mode(name: str, mode: str) -> LabVenue:
    base = ACCOUNTS[name]
    return LabVenue(base.venue, base.account, base.credentials, base.hedge_mode, mode)


async def _snapshot(name: str, mode: str) -> Any:
    chosen = _with_mode(name, mode)
    lab = build_lab(crash(), [chosen.lab_account()], venues=[chosen.venue], budgets={})
    await lab.start()
    found = gateway(lab, name)
    try:
        return await found.fetch_snapshot(chosen.account)
    finally:
        await found.close()
        await lab.stop()


@pytest.mark.parametrize(("name", "mode", "named"), REFUSED)
async def test_snapshot_when_account_in_refused_mode_then_permanent_error_naming_it(
    name: str, mode: str, named: str
) -> None:
    with pytest.raises(UnsupportedAccountMode) as raised:
        await _snapshot(name, mode)
    assert isinstance(raised.value, PermanentError)
    message = str(raised.value)
    assert message.startswith(f"{ACCOUNTS[name].venue}: unsupported account mode: {named} (")
    assert "supports" in message


@pytest.mark.parametrize(("name", "mode"), HANDLED)
async def test_snapshot_when_account_in_handled_mode_then_positions_read(
    name: str, mode: str
) -> None:
    snapshot = await _snapshot(name, mode)
    modes = {p.symbol.split("/")[0]: p.margin_mode.value for p in snapshot.positions}
    assert set(modes) == {"BTC", "ETH", "SOL"}
    if mode == "ISOLATED_MARGIN":  # Bybit's mode is account-wide: every position isolated
        assert set(modes.values()) == {"isolated"}
    elif name == "bybit":
        assert set(modes.values()) == {"cross"}
    else:  # Hyperliquid and OKX hold the crash portfolio as seeded: SOL isolated
        assert modes["SOL"] == "isolated" and modes["BTC"] == modes["ETH"] == "cross"


@pytest.mark.parametrize(
    ("name", "mode", "named"),
    [REFUSED[0], REFUSED[3], REFUSED[6]],
    ids=["hyperliquid-unified", "bybit-portfolio", "okx-multi-currency"],
)
def test_crash_when_account_in_refused_mode_then_disabled_and_nothing_sent(
    name: str, mode: str, named: str, tmp_path: Path
) -> None:
    chosen = _with_mode(name, mode)
    policies = load_policies([ROOT / "policies" / "default.yaml"])

    async def run() -> Any:
        lab = build_lab(crash(), [chosen.lab_account()], venues=[chosen.venue], budgets={})
        await lab.start()
        try:
            store = fresh_store(tmp_path / "refused.db")
            run = await run_over_wire(
                lab, crash(), chosen.venue, chosen.account, chosen.credentials, policies, store
            )
            return run, lab.book.all_orders(chosen.venue, chosen.account)
        finally:
            await lab.stop()

    run, orders = asyncio.run(run())
    assert len(run.errors) == run.ticks > 1
    assert named in run.errors[0]  # refused on the first tick, by name
    # disabled from then on (the service neither reads nor acts), still naming the mode
    assert all(e.startswith("permanent error, no further action: ") for e in run.errors[1:])
    assert all(named in e for e in run.errors)
    assert orders == [] and run.summary.orders == 0  # never acted on a misread account
