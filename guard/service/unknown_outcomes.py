"""What to do with an unfinished intent the venue does not know (looked up by client id). Pure.

Never guessed: an order never handed to the venue (pending) is sent once while young; one that was
handed over (sent, unknown) is resent only where that cannot reduce twice — the venue rejects a
reused client id (`VenueRules.rejects_reused_client_id`), or the position is exactly its size just
before the first send — and is otherwise left unknown with what a human should check; past the
resend window it is abandoned with a reason. docs/reliability.md lists the rule per venue.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from guard.core.domain import ZERO, OrderPlan, OrderResult, OrderStatus
from guard.core.venues.base import VenueRules
from guard.store import StoredIntent


@dataclass(frozen=True, slots=True)
class NotFound:
    """Resend now, or record/return `result` (record: an outcome worth auditing)."""

    result: OrderResult
    resend: bool = False
    record: bool = False


def resend_cannot_double(
    intent: StoredIntent, rules: VenueRules | None, positions_now: Mapping[str, Decimal]
) -> bool:
    """True when resending a handed-over order cannot reduce the position twice."""
    if rules is not None and rules.rejects_reused_client_id:
        return True
    now = positions_now.get(intent.client_order_id)
    return intent.position_before is not None and now == intent.position_before


def not_found_verdict(
    intent: StoredIntent,
    plan: OrderPlan,
    now: datetime,
    window: timedelta,
    resend: bool,
    rules: VenueRules | None,
    positions_now: Mapping[str, Decimal],
) -> NotFound:
    """The rule above for one intent; `resend` off (a tick's look-up): never resend."""
    client_id = intent.client_order_id
    handed = intent.status is not OrderStatus.PENDING
    old = now - intent.created_at > window
    waiting = NotFound(OrderResult(client_id, intent.status, message="not found yet"))
    if old or plan.quantity <= ZERO:
        if not resend and not (handed and old):
            return waiting
        if plan.quantity <= ZERO:
            why = "never found at the venue and the position is gone"
        elif handed:
            why = (
                f"never found at the venue within {window} of sending; assumed not executed — "
                f"check the venue's order history for client id {client_id}"
            )
        else:
            why = "never reached the venue and is older than the resend window"
        return NotFound(OrderResult(client_id, OrderStatus.ABANDONED, message=why), record=True)
    if not resend:
        return waiting
    if handed and not resend_cannot_double(intent, rules, positions_now):
        venue = rules.name if rules is not None else "this venue"
        why = (
            f"outcome unknown and not found at the venue: not resent, because {venue} accepts "
            f"a reused client id and the position changed since the send — check the venue's "
            f"order history for client id {client_id}"
        )
        return NotFound(OrderResult(client_id, OrderStatus.UNKNOWN, message=why), record=True)
    return NotFound(waiting.result, resend=True)
