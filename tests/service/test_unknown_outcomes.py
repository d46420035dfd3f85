"""An order whose outcome is unknown and that the venue cannot find is never guessed: resent only
where the venue rejects a reused client id or the position proves the step unapplied, otherwise
left unknown with what a human should check, and abandoned past the resend window."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from guard.core.domain import MarginMode, OrderStatus, OrderType, Side
from guard.core.venues import binance, bybit, dydx, hyperliquid, okx
from guard.core.venues import paper as paper_venue
from guard.core.venues.base import VenueRules
from guard.service.unknown_outcomes import not_found_verdict
from guard.store import StoredIntent
from tests.builders import T0, D

WINDOW = timedelta(minutes=5)
SENT = StoredIntent(
    client_order_id="cid-1",
    account="a",
    symbol="BTC/USDT:USDT",
    side="sell",
    position_side=Side.LONG,
    quantity=D("0.5"),
    status=OrderStatus.UNKNOWN,
    filled_quantity=D(0),
    average_price=None,
    reason="ladder",
    rule_ids=("ladder",),
    dry_run=False,
    created_at=T0,
    updated_at=T0,
    message="send outcome unknown",
    margin_mode=MarginMode.CROSS,
    order_type=OrderType.MARKET,
    limit_price=None,
    hedged=False,
    steps=("s",),
    position_before=D(1),
)
PLAN = SENT.as_plan(D("0.5"))


def verdict(
    intent: StoredIntent, rules: VenueRules, position_now: Decimal, *, minutes: int = 1
) -> tuple[bool, OrderStatus, str]:
    found = not_found_verdict(
        intent, PLAN, T0 + timedelta(minutes=minutes), WINDOW, True, rules, {"cid-1": position_now}
    )
    return found.resend, found.result.status, found.result.message


@pytest.mark.parametrize(
    ("rules", "rejects"),
    [
        (bybit.RULES, True),
        (paper_venue.RULES, True),
        (binance.RULES, False),
        (okx.RULES, False),
        (dydx.RULES, False),
        (hyperliquid.RULES, False),
    ],
)
def test_not_found_when_handed_over_and_position_changed_then_resent_only_where_reuse_rejected(
    rules: VenueRules, rejects: bool
) -> None:
    resend, status, message = verdict(SENT, rules, D("0.5"))
    assert resend is rejects
    if not rejects:
        assert status is OrderStatus.UNKNOWN
        assert "not resent" in message and "client id cid-1" in message and rules.name in message


def test_not_found_when_position_unchanged_since_send_then_resent_on_any_venue() -> None:
    resend, _, _ = verdict(SENT, binance.RULES, D(1))
    assert resend


def test_not_found_when_position_before_unknown_then_not_resent() -> None:
    resend, status, _ = verdict(replace(SENT, position_before=None), okx.RULES, D(1))
    assert not resend and status is OrderStatus.UNKNOWN


def test_not_found_when_never_handed_over_and_young_then_sent_once() -> None:
    pending = replace(SENT, status=OrderStatus.PENDING, position_before=None)
    resend, _, _ = verdict(pending, okx.RULES, D("0.3"))
    assert resend


def test_not_found_when_older_than_window_then_abandoned_with_what_to_check() -> None:
    resend, status, message = verdict(SENT, okx.RULES, D("0.5"), minutes=10)
    assert not resend and status is OrderStatus.ABANDONED
    assert "check the venue's order history for client id cid-1" in message


def test_not_found_when_tick_lookup_and_young_then_only_waits() -> None:
    found = not_found_verdict(SENT, PLAN, T0 + timedelta(minutes=1), WINDOW, False, okx.RULES, {})
    assert not found.resend and not found.record and found.result.status is OrderStatus.UNKNOWN
