"""ccxt unified structures into domain values: numbers as Decimal, order dicts as OrderResult,
order books as top of book; pure (no I/O, no ccxt import)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import Any

from guard.core.domain import ZERO, AccountSnapshot, OrderResult, frozen_map
from guard.core.domain import OrderStatus as Status


def dec(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def order_result(
    order: Mapping[str, Any],
    client_order_id: str,
    contract_size: Decimal,
    *,
    requested: Decimal | None = None,
) -> OrderResult:
    """The domain OrderResult of a ccxt order dict (amounts converted to base units).

    `requested` (base units) is given for immediate (market / IOC) orders just created: such an
    order cannot rest, so a fill reported without a final status is complete or partial.
    """
    status = order.get("status")
    filled = (dec(order.get("filled")) or ZERO) * contract_size
    amount = dec(order.get("amount"))
    wanted = amount * contract_size if amount is not None else requested
    if status == "closed":
        outcome = Status.FILLED
        if wanted is not None and filled < wanted:
            outcome = Status.PARTIALLY_FILLED
    elif status in ("canceled", "cancelled", "expired"):
        outcome = Status.PARTIALLY_FILLED if filled > ZERO else Status.REJECTED
    elif status == "rejected":
        outcome = Status.REJECTED
    elif requested is not None and filled > ZERO:
        outcome = Status.FILLED if filled >= requested else Status.PARTIALLY_FILLED
    else:  # open, or a create response that only acknowledges
        outcome = Status.ACKNOWLEDGED
    fee = order.get("fee") or {}
    message = "" if outcome is not Status.REJECTED else f"venue status {status}, nothing filled"
    venue_id = order.get("id")
    return OrderResult(
        client_order_id=client_order_id,
        status=outcome,
        filled_quantity=filled,
        average_price=dec(order.get("average")),
        fee=dec(fee.get("cost")) or ZERO,
        venue_order_id=str(venue_id) if venue_id not in (None, "") else None,
        message=message,
    )


def with_top_of_book(
    snapshot: AccountSnapshot, books: Mapping[str, Any], markets: Mapping[str, Any]
) -> AccountSnapshot:
    """`snapshot` with best bid/ask and top-of-book depth (base units) from ccxt order books."""
    data = dict(snapshot.market_data)
    for symbol, book in books.items():
        current = data.get(symbol)
        if current is None:
            continue
        size = dec((markets.get(symbol) or {}).get("contractSize")) or Decimal(1)
        bids, asks = book.get("bids") or [], book.get("asks") or []
        data[symbol] = replace(
            current,
            best_bid=dec(bids[0][0]) if bids else current.best_bid,
            best_ask=dec(asks[0][0]) if asks else current.best_ask,
            bid_depth=sum(((dec(level[1]) or ZERO) * size for level in bids), ZERO)
            if bids
            else current.bid_depth,
            ask_depth=sum(((dec(level[1]) or ZERO) * size for level in asks), ZERO)
            if asks
            else current.ask_depth,
        )
    return replace(snapshot, market_data=frozen_map(data))
