"""Read-only queries the unattended service needs beyond the Store's own (breaker windows);
each takes a Store and opens its own session."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlmodel import Session, col, select

from guard.core.domain import ZERO, OrderStatus
from guard.store.store import Store
from guard.store.tables import IntentRow

COUNTED = (
    OrderStatus.PENDING.value,
    OrderStatus.SENT.value,
    OrderStatus.ACKNOWLEDGED.value,
    OrderStatus.FILLED.value,
    OrderStatus.PARTIALLY_FILLED.value,
    OrderStatus.UNKNOWN.value,
)


def window_totals(store: Store, since: datetime) -> dict[str, tuple[int, Decimal]]:
    """Per account: orders the guard sent (or is sending) since `since`, and their notional
    (filled quantity at the average price, else quantity at the worst acceptable price)."""
    totals: dict[str, tuple[int, Decimal]] = {}
    with Session(store.engine) as session:
        rows = session.exec(
            select(IntentRow).where(
                col(IntentRow.created_at) >= since,
                col(IntentRow.status).in_(COUNTED),
                IntentRow.dry_run == False,  # noqa: E712
            )
        ).all()
    for row in rows:
        if row.average_price is not None and row.filled_quantity > ZERO:
            notional = row.filled_quantity * row.average_price
        else:
            notional = row.quantity * (row.limit_price or ZERO)
        count, total = totals.get(row.account, (0, ZERO))
        totals[row.account] = (count + 1, total + notional)
    return totals
