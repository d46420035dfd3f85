"""Rules with different selectors in one evaluation each see their own positions (the engine
remembers each selector's selection for the evaluation, never one rule's for another's)."""

from __future__ import annotations

from decimal import Decimal

from guard.core.domain import PositionKey, Side
from tests.builders import position, snapshot
from tests.core.engine.helpers import run

BTC = PositionKey("BTC/USDT:USDT", Side.LONG)
ETH = PositionKey("ETH/USDT:USDT", Side.LONG)


def test_evaluate_when_two_rules_select_different_symbols_then_each_reduces_only_its_own() -> None:
    # BTC 12x and ETH 6x of 5000 cross equity: a 5x position cap breaches both (test_kinds table)
    book = snapshot(
        [
            position(quantity="1", entry="60000", leverage="20"),
            position("ETH/USDT:USDT", quantity="10", entry="3000", leverage="20"),
        ],
        wallet="5000",
    )
    btc_only = {"id": "btc-cap", "kind": "leverage_cap", "position": "5x"}
    eth_only = {"id": "eth-cap", "kind": "leverage_cap", "position": "5x"}
    decision = run(
        book,
        {**btc_only, "select": {"symbols": ["BTC/*"]}},
        {**eth_only, "select": {"symbols": ["ETH/*"]}},
        {"id": "all-cap", "kind": "exposure_cap", "limit": "1000000"},  # selects both, no breach
    )
    by_key = {r.key: (r.quantity, r.rule_ids) for r in decision.reductions}
    assert by_key == {BTC: (Decimal("0.584"), ("btc-cap",)), ETH: (Decimal("1.667"), ("eth-cap",))}
