"""The venue lab: a local server speaking each venue's wire protocol and enforcing its order
rules, backed by the paper venue's engine on one shared market path (guard venue-lab, tests)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal

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
    portfolio, every venue module on one server (not started)."""
    names = tuple(dict.fromkeys(a.paper for a in accounts))
    indexed = replace(scenario, path=IndexedPricePath.of(scenario.path))  # O(log n) marks
    paper = indexed.venue(names)
    book = LabBook(paper, list(accounts), speed=speed, end=scenario.end if speed else None)
    chosen = venues if venues is not None else sorted(VENUES)
    modules: dict[str, VenueModule] = {name: VENUES[name]() for name in chosen}
    return VenueLab(book, modules, budgets=budgets, port=port)


__all__ = [
    "VENUES",
    "Budget",
    "Fault",
    "FaultKind",
    "FaultPlan",
    "LabAccount",
    "LabBook",
    "VenueLab",
    "build_lab",
]
