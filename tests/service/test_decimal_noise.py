"""Order and fill messages (audit log, alerts) print quantities at the order's step and prices
rounded, and serialised metrics never carry exponent forms such as 0E+23."""

from __future__ import annotations

from decimal import Decimal

from guard.core.domain import MarginMode, OrderPlan, OrderResult, OrderSide, OrderStatus, Side
from guard.core.numbers import price_text, quantity_text, result_alert_text, result_text
from guard.store.codec import to_jsonable
from guard.store.intent_records import intent_event

NOISY_PRICE = Decimal("58296.63392215807509339121139")
NOISY_FILL = Decimal("0.2999999999999999999999999999")
PLAN = OrderPlan(
    account="a",
    symbol="BTC/USDT:USDT",
    side=OrderSide.SELL,
    quantity=Decimal("0.300"),
    position_side=Side.LONG,
    margin_mode=MarginMode.CROSS,
    client_order_id="g-1",
    reason="liquidation buffer",
)
RESULT = OrderResult("g-1", OrderStatus.FILLED, NOISY_FILL, NOISY_PRICE)


def test_result_text_when_fill_price_is_noisy_then_step_quantity_and_rounded_price() -> None:
    assert result_text(PLAN, RESULT) == (
        "filled: reduce-only sell 0.3 BTC/USDT:USDT (filled 0.3 at 58296.634)"
    )


def test_result_alert_text_when_fill_price_is_noisy_then_step_quantity_and_rounded_price() -> None:
    assert result_alert_text(PLAN, RESULT) == (
        "reduce-only sell 0.3 BTC/USDT:USDT: filled, filled 0.3 at 58296.634"
    )


def test_intent_event_when_quantity_has_trailing_zeros_then_plain() -> None:
    event = intent_event(PLAN, OrderStatus.PENDING, "", None, None, "guard")
    assert event.message.startswith("intent: reduce-only sell 0.3 BTC/USDT:USDT (market)")


def test_price_and_quantity_text_when_tick_or_step_known_then_rounded_there() -> None:
    assert price_text(NOISY_PRICE, Decimal("0.1")) == "58296.6"
    assert price_text(Decimal("0.000012345678912")) == "0.000012345679"
    assert quantity_text(Decimal("2.0000000001"), Decimal("2")) == "2"
    assert quantity_text(Decimal("1E+2")) == "100"


def test_to_jsonable_when_zero_or_exponent_decimal_then_plain_text() -> None:
    metrics = {"a": Decimal("0E+23"), "b": Decimal("1E+2"), "c": Decimal("0.0123456789")}
    assert to_jsonable(metrics) == {"a": "0", "b": "100", "c": "0.0123456789"}
