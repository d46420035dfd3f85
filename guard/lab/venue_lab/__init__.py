"""The venue lab: a local server speaking each venue's wire protocol and enforcing its order
rules, backed by the paper venue's engine on one shared market path (guard venue-lab, tests)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal

from guard.core.domain import MarginMode
from guard.gateway.paper.path import IndexedPricePath
from guard.gateway.paper.scenarios import Scenario
from guard.lab.venue_lab.binance import Binance
from guard.lab.venue_lab.book import LabAccount, LabBook
from guard.lab.venue_lab.bybit import Bybit
from guard.lab.venue_lab.dydx import Dydx
from guard.lab.venue_lab.faults import Fault, FaultKind, FaultPlan
from guard.lab.venue_lab.hyperliquid import Hyperliquid
from guard.lab.venue_lab.limits import Budget
from guard.lab.venue_lab.okx import Okx
from guard.lab.venue_lab.server import VenueLab, VenueModule

VENUES: dict[str, type] = {
    "binance": Binance,
    "bybit": Bybit,
    "dydx": Dydx,
    "hyperliquid": Hyperliquid,
    "okx": Okx,
}


# the account modes a lab account can present, as each venue's own field states them
# (venues.md §10, docs/venues-modes.md); None is the venue's ordinary mode
ACCOUNT_MODES: dict[str, tuple[str, ...]] = {
    "binance": ("MULTI_ASSETS",),  # multiAssetsMargin true
    "bybit": ("REGULAR_MARGIN", "ISOLATED_MARGIN", "PORTFOLIO_MARGIN", "CLASSIC"),
    "dydx": (),
    "hyperliquid": ("default", "disabled", "unifiedAccount", "portfolioMargin", "dexAbstraction"),
    "okx": ("1", "2", "3", "4"),  # acctLv
}


def venue_portfolio(scenario: Scenario, account: LabAccount) -> Scenario:
    """The scenario's portfolio as `account`'s venue can hold it. Bybit's unified account has
    one margin mode for the whole account (`/v5/account/info` marginMode, venues.md §5.1, §10):
    every position of a Bybit account is isolated under ISOLATED_MARGIN and cross otherwise
    (REGULAR_MARGIN, PORTFOLIO_MARGIN, the default). Other venues hold mixed portfolios."""
    if account.venue != "bybit":
        return scenario
    mode = MarginMode.ISOLATED if account.mode == "ISOLATED_MARGIN" else MarginMode.CROSS
    seeds = tuple(
        seed if seed.margin_mode is mode else replace(seed, margin_mode=mode, margin=None)
        for seed in scenario.positions
    )
    return replace(scenario, positions=seeds)


def build_lab(
    scenario: Scenario,
    accounts: Sequence[LabAccount],
    *,
    venues: Sequence[str] | None = None,
    budgets: dict[str, Budget] | None = None,
    port: int = 0,
    speed: Decimal | None = None,
) -> VenueLab:
    """A lab over `scenario`: one paper account per lab account, seeded with the scenario's
    portfolio as its venue can hold it (`venue_portfolio`), every venue module on one server
    (not started)."""
    for account in accounts:
        if account.mode is not None and account.mode not in ACCOUNT_MODES[account.venue]:
            raise ValueError(
                f"lab account {account.key!r}: {account.venue} has no account mode "
                f"{account.mode!r}; one of {', '.join(ACCOUNT_MODES[account.venue]) or 'none'}"
            )
    indexed = replace(scenario, path=IndexedPricePath.of(scenario.path))  # O(log n) marks
    paper = indexed.venue(())
    for name, owner in {a.paper: a for a in accounts}.items():
        paper.open_account(name, scenario.collateral)
        for seed in venue_portfolio(scenario, owner).positions:
            seed.place(paper, name)
    book = LabBook(paper, list(accounts), speed=speed, end=scenario.end if speed else None)
    chosen = venues if venues is not None else sorted(VENUES)
    modules: dict[str, VenueModule] = {name: VENUES[name]() for name in chosen}
    return VenueLab(book, modules, budgets=budgets, port=port)


__all__ = [
    "ACCOUNT_MODES",
    "VENUES",
    "Budget",
    "Fault",
    "FaultKind",
    "FaultPlan",
    "LabAccount",
    "LabBook",
    "VenueLab",
    "build_lab",
    "venue_portfolio",
]
