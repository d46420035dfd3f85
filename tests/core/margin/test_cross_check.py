"""cross_check_liquidation and the funding conventions of margin.py, on plain values."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from guard.core.domain import MarketData, Severity, Side, frozen_map
from guard.core.liquidation_check import cross_check_liquidation
from guard.core.margin import annualise, funding_per_interval, measure
from guard.core.venues import hyperliquid, paper
from tests.builders import D, position, snapshot


def metrics_with_venue_price(venue_price: str | None, wallet: str = "10000"):
    own = replace(
        position(quantity="1", entry="60000", leverage="10"),
        venue_liquidation_price=D(venue_price) if venue_price is not None else None,
    )
    return measure(snapshot([own], wallet=wallet), paper.RULES)


def test_cross_check_when_within_tolerance_then_no_alert():
    computed = metrics_with_venue_price(None).positions[0].liquidation_price
    assert computed is not None
    close = computed * D("1.001")
    assert cross_check_liquidation(metrics_with_venue_price(str(close)), D("0.002")) == ()
    assert cross_check_liquidation(metrics_with_venue_price(None), D(0)) == ()


def test_cross_check_when_divergence_beyond_tolerance_then_alert_names_symbol_prices_and_tolerance():
    metrics = metrics_with_venue_price("55000")
    computed = metrics.positions[0].liquidation_price
    assert computed is not None
    (alert,) = cross_check_liquidation(metrics, D("0.005"))
    assert alert.kind == "liquidation_price_divergence" and alert.severity is Severity.WARNING
    assert alert.symbol == "BTC/USDT:USDT"
    divergence = abs(computed - D(55000)) / D(55000) * 100
    for text in (
        "BTC/USDT:USDT:long",
        "55000",
        str(computed.quantize(D("1e-8"))),
        f"{divergence:.4f} %",
        "0.5 %",
    ):
        assert text in alert.message, text


def test_cross_check_when_venue_reports_price_guard_computes_none_then_alert():
    # wallet far above the notional: no positive price liquidates the long
    metrics = metrics_with_venue_price("1000", wallet="1000000")
    assert metrics.positions[0].liquidation_price is None
    (alert,) = cross_check_liquidation(metrics, D("0.5"))
    assert "computes no liquidation price" in alert.message


def test_cross_check_when_negative_tolerance_then_error():
    with pytest.raises(ValueError, match="tolerance"):
        cross_check_liquidation(metrics_with_venue_price(None), D("-0.1"))


def test_funding_when_positive_rate_then_longs_pay_shorts_receive():
    long = position(quantity="2", entry="100", mark="110")
    short = replace(long, side=Side.SHORT)
    assert funding_per_interval(long, D("0.001")) == D("0.220")
    assert funding_per_interval(short, D("0.001")) == D("-0.220")
    assert funding_per_interval(long, None) == 0
    assert funding_per_interval(long, D("0.001"), price=D(100)) == D("0.200")
    assert annualise(D("0.0001"), timedelta(hours=8)) == D("0.1095")
    assert annualise(D("0.0001"), timedelta(hours=1)) == D("0.8760")


def test_measure_when_venue_funds_at_oracle_then_oracle_notional_used():
    own = position(symbol="ETH/USDC:USDC", quantity="2", entry="100", mark="110")
    snap = snapshot([own])
    data = {
        "ETH/USDC:USDC": MarketData(
            "ETH/USDC:USDC", D(110), index_price=D(105), funding_rate=D("0.0001")
        )
    }
    snap = replace(snap, market_data=frozen_map(data))
    hourly = replace(hyperliquid.RULES)
    assert measure(snap, hourly).positions[0].funding_per_interval == D(2) * D(105) * D("0.0001")
    assert measure(snap, paper.RULES).positions[0].funding_per_interval == D(2) * D(110) * D(
        "0.0001"
    )
    assert isinstance(measure(snap, paper.RULES).positions[0].funding_annualised, Decimal)
