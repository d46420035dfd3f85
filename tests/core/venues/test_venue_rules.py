"""Venue modules: tier builders, conventions, client ids and the registry, on plain values."""

from __future__ import annotations

import itertools
import json
import re
from decimal import Decimal

import pytest

from guard.core.domain import INFINITY, ZERO
from guard.core.venues import binance, bybit, dydx, hyperliquid, okx
from guard.core.venues.base import chained_tiers
from guard.core.venues.registry import VENUES, rules_for
from tests.conftest import shared_path
from tests.core.venues.examples import BTC_BRACKETS

D = Decimal


def test_tiers_from_floor_rates_when_faq_chain_then_level3_amount_is_1300():
    """Binance FAQ (venues.md §4.1): "Level 3 = 250,000 × (1 % − 0.5 %) + 50 = 1,300 USDT"."""
    tiers = binance.tiers_from_floor_rates([["0", "0.004"], ["50000", "0.005"], ["250000", "0.01"]])
    assert [t.maintenance_deduction for t in tiers] == [D(0), D(50), D(1300)]
    assert tiers[-1].notional_cap == INFINITY
    assert tiers[1].notional_cap == D(250000)


def test_tiers_from_brackets_when_faq_position_value_264000_then_mmr_1pct_amount_1300():
    """Binance FAQ: position value 264,000 → MMR 1 %; brackets carry `cum` as given."""
    tier = binance.tiers_from_brackets(BTC_BRACKETS)
    chosen = next(t for t in tier if t.notional_floor <= D(264000) < t.notional_cap)
    assert (chosen.maintenance_rate, chosen.maintenance_deduction) == (D("0.01"), D(1300))


def test_tiers_from_floor_rates_when_shared_ccxt_leverage_brackets_then_continuous():
    """ccxt's options.leverageBrackets (shared binance/response.json) rebuilt with the FAQ chain:
    maintenance is continuous at every floor."""
    data = json.loads(shared_path("data", "ccxt-static", "binance", "response.json").read_text())
    for symbol in ("BTC/USDT:USDT", "ETH/USDT:USDT"):
        tiers = binance.tiers_from_floor_rates(data["options"]["leverageBrackets"][symbol])
        for lower, upper in itertools.pairwise(tiers):
            at = upper.notional_floor
            left = at * lower.maintenance_rate - lower.maintenance_deduction
            right = at * upper.maintenance_rate - upper.maintenance_deduction
            assert left == right


def test_tiers_from_brackets_when_field_missing_then_error_names_row_and_field():
    with pytest.raises(ValueError, match=r"brackets\[0\]\.cum"):
        binance.tiers_from_brackets(
            [{"notionalFloor": "0", "notionalCap": "1", "maintMarginRatio": "0.004"}]
        )


def test_tiers_from_risk_limits_when_bybit_rows_then_floors_are_previous_caps():
    rows = [
        {
            "riskLimitValue": "2000000",
            "maintenanceMargin": "0.005",
            "mmDeduction": "0",
            "maxLeverage": "100",
        },
        {
            "riskLimitValue": "4000000",
            "maintenanceMargin": "0.01",
            "mmDeduction": "10000",
            "maxLeverage": "50",
        },
    ]
    tiers = bybit.tiers_from_risk_limits(rows)
    assert (tiers[1].notional_floor, tiers[1].notional_cap) == (D(2000000), INFINITY)
    # Bybit "Margin Parameters": Deduction(n) = RiskLimit(n−1)·(MMR(n) − MMR(n−1)) + Deduction(n−1)
    assert tiers[1].maintenance_deduction == D(2000000) * (D("0.01") - D("0.005"))


def test_funding_interval_when_bybit_minutes_then_timedelta():
    assert bybit.funding_interval_from_minutes(240).total_seconds() == 4 * 3600
    with pytest.raises(ValueError, match="positive"):
        bybit.funding_interval_from_minutes(0)


def test_okx_tiers_when_contract_bounds_then_notional_at_mark_without_deduction():
    rows = [
        {"minSz": "0", "maxSz": "100", "mmr": "0.004", "maxLever": "100"},
        {"minSz": "100", "maxSz": "200", "mmr": "0.006", "maxLever": "75"},
    ]
    tiers = okx.tiers_from_position_tiers(rows, D("0.01"), D(60000))
    assert tiers[0].notional_cap == D(60000)  # 100 contracts × 0.01 BTC × 60,000
    assert all(t.maintenance_deduction == ZERO for t in tiers)
    assert okx.base_quantity(D(-250), D("0.01")) == D("2.5")
    assert okx.normalised_margin_ratio(D(4)) == D("0.25")


def test_hyperliquid_rates_when_margin_table_then_half_initial_margin_and_chained_deduction():
    """HL docs (venues.md §3.1): mmr = 1/(2·maxLeverage); deduction chain from lower bounds
    (BTC: 40x below 150M, 20x above)."""
    assert hyperliquid.maintenance_rate(D(50)) == D("0.01")
    tiers = hyperliquid.tiers_from_margin_table(
        [{"lowerBound": "0", "maxLeverage": 40}, {"lowerBound": "150000000", "maxLeverage": 20}]
    )
    assert [t.maintenance_rate for t in tiers] == [D("0.0125"), D("0.025")]
    assert tiers[1].maintenance_deduction == D(150000000) * D("0.0125")


def test_dydx_imf_when_open_interest_between_caps_then_scaled():
    """dYdX docs (venues.md §2.1): base 10 %, caps 20M/50M, open notional 35M → 55 %;
    maintenance fraction = base IMF × fraction (2 % × 60 % = 1.2 %)."""
    assert dydx.effective_imf(D("0.1"), D(35_000_000), D(20_000_000), D(50_000_000)) == D("0.55")
    assert dydx.effective_imf(D("0.1"), D(60_000_000), D(20_000_000), D(50_000_000)) == D(1)
    assert dydx.effective_imf(D("0.1"), D(1_000_000), D(20_000_000), D(50_000_000)) == D("0.1")
    assert dydx.effective_imf(D("0.02"), D(10**12), D(0), D(0)) == D("0.02")
    assert dydx.maintenance_fraction(D("0.02"), D("0.6")) == D("0.012")
    assert dydx.tiers(D("0.02"), D("0.012"))[0].max_leverage == D(50)


def test_is_liquidatable_when_equity_equals_maintenance_then_only_non_dydx_venues():
    for venue in VENUES:
        rules = rules_for(venue)
        assert rules.is_liquidatable(D(10), D(10)) is (venue != "dydx")
        assert rules.is_liquidatable(D("9.99"), D(10))


def test_client_order_id_when_each_venue_then_fits_venue_grammar():
    expectations = {
        "hyperliquid": r"0x[0-9a-f]{32}",
        "dydx": r"[0-9]+",
        "okx": r"[A-Za-z0-9]{1,32}",
    }
    for venue in VENUES:
        rules = rules_for(venue)
        client_id = rules.client_order_id("account", "rule", "step-1")
        assert rules.is_valid_client_order_id(client_id), venue
        assert len(client_id) <= rules.client_id_max_length
        if venue == "dydx":
            assert 0 < int(client_id) < 2**32
        if venue in expectations:
            assert re.fullmatch(expectations[venue], client_id)
    assert not rules_for("bybit").is_valid_client_order_id("has.dot")
    assert rules_for("binance").is_valid_client_order_id("a.b:c/d")
    assert not rules_for("okx").is_valid_client_order_id("a-b")


def test_rules_for_when_unknown_venue_then_error_lists_known_venues():
    with pytest.raises(
        ValueError, match=r"unknown venue .kraken..*binance, bybit, dydx, hyperliquid, okx, paper"
    ):
        rules_for("kraken")
    assert rules_for(" Binance ").ccxt_id == "binanceusdm"
    assert rules_for("binance").reduce_only_exempt_from_min_notional
    assert rules_for("hyperliquid").funding_price_basis == "oracle"
    assert rules_for("dydx").funding_interval.total_seconds() == 3600


def test_chained_tiers_when_negative_rate_then_error():
    with pytest.raises(ValueError, match="must not be negative"):
        chained_tiers([(D(0), D("-0.01"), None)])
