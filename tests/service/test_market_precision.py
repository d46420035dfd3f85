"""Quantities and prices in finding reasons and alerts are printed to the market's precision
(amount step, price tick): `0.3 BTC`, not `0.300`; a fill price at the tick, not 28 digits."""

from __future__ import annotations

import re
from decimal import Decimal

from guard.core.domain import (
    MarginMode,
    MarketSpec,
    OrderPlan,
    OrderResult,
    OrderSide,
    OrderStatus,
    PositionKey,
    Side,
)
from guard.core.numbers import market_quantity, result_alert_text
from guard.core.rails import PositionChange
from guard.service.notify import AlertKind
from guard.store import Store
from tests.service.helpers import ACCOUNT, rig

# a number with a fractional part ending in 0 (0.300, 4.50, 25.00): noise, not precision
TRAILING_ZERO = re.compile(r"\b\d+\.\d*0\b")


async def test_tick_when_ladder_fires_then_reasons_and_alerts_at_market_precision(
    sqlite_store: Store,
) -> None:
    r = rig(sqlite_store)
    report = await r.run_until_orders()
    assert report.decision is not None
    reasons = [f.reason for f in report.decision.findings if "episode-start size" in f.reason]
    assert reasons
    breaches = [a.body for a in r.service.notifier.sent if a.kind is AlertKind.BREACH]
    for text in reasons + breaches:
        sizes = re.findall(r"episode-start size \S+ = \S+", text)
        assert sizes and not any(TRAILING_ZERO.search(s) for s in sizes), text
    snapshot = await r.venue.fetch_snapshot(ACCOUNT)  # the fills' prices: at the market's tick
    orders = [a for a in r.service.notifier.sent if a.kind is AlertKind.ORDER]
    assert orders
    for alert in orders:
        price = Decimal(alert.body.split(" at ")[1].split()[0])
        symbol = alert.body.split()[3].rstrip(":")
        assert price % snapshot.markets[symbol].price_tick == 0, alert.body


def test_result_alert_text_when_market_known_then_price_at_its_tick() -> None:
    plan = OrderPlan(
        ACCOUNT, "BTC/USDT:USDT", OrderSide.SELL, Decimal("0.300"), Side.LONG,
        MarginMode.CROSS,
        client_order_id="c1",
    )  # fmt: skip
    result = OrderResult(
        "c1", OrderStatus.FILLED, Decimal("0.29999999"), Decimal("58296.63392215807509339121139")
    )
    market = MarketSpec("BTC/USDT:USDT", "BTC", "USDT", amount_step=Decimal("0.001"),
                        price_tick=Decimal("0.1"))  # fmt: skip
    text = result_alert_text(plan, result, market)
    assert text == "reduce-only sell 0.3 BTC/USDT:USDT: filled, filled 0.3 at 58296.6"
    assert market_quantity(Decimal("12.500"), market) == "12.5"


def test_position_change_when_described_then_quantities_without_trailing_zeros() -> None:
    change = PositionChange(
        PositionKey("BTC/USDT:USDT", Side.LONG),
        Decimal("1.200"),
        Decimal("0.900"),
        Decimal("0.000"),
    )
    text = change.describe()
    assert "shrank to 0.9 from 1.2" in text and "our fills: 0;" in text
    assert "unexplained: 0.3)" in text
