"""The account's own funding payments from ccxt's fetch_funding_history entries → FundingPayment;
pure. Wired only where the sign and the side are certain from the payload: Hyperliquid's
userFunding (`delta.usdc` is what the account received, `delta.szi` the signed size)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from guard.core.domain import ZERO, Side
from guard.core.funding_ledger import FundingPayment
from guard.gateway.parsers.common import PayloadError


def _number(value: Any, path: str, expected: str) -> Decimal:
    try:
        number = Decimal(str(value)) if value is not None and value != "" else None
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        raise PayloadError("hyperliquid", path, expected, value)
    return number


def hyperliquid_payments(entries: Sequence[Any]) -> list[FundingPayment]:
    """Each userFunding entry as a payment: paid = -usdc (positive usdc is received), the side
    from the sign of szi, the rate as the venue states it (hourly)."""
    payments: list[FundingPayment] = []
    for index, entry in enumerate(entries):
        path = f"funding_history[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("info"), dict):
            raise PayloadError("hyperliquid", path, "a ccxt funding history entry with info", entry)
        delta = entry["info"].get("delta")
        if not isinstance(delta, dict):
            raise PayloadError("hyperliquid", f"{path}.info.delta", "an object", delta)
        symbol = entry.get("symbol")
        if not isinstance(symbol, str) or not symbol:
            raise PayloadError("hyperliquid", f"{path}.symbol", "a market symbol", symbol)
        signed = _number(delta.get("szi"), f"{path}.info.delta.szi", "a signed size")
        if signed == ZERO:
            continue
        received = _number(delta.get("usdc"), f"{path}.info.delta.usdc", "a USDC amount")
        millis = _number(entry.get("timestamp"), f"{path}.timestamp", "epoch milliseconds")
        rate = delta.get("fundingRate")
        payments.append(
            FundingPayment(
                at=datetime.fromtimestamp(float(millis) / 1000, tz=UTC),
                symbol=symbol,
                side=Side.LONG if signed > ZERO else Side.SHORT,
                amount=-received,
                quantity=abs(signed),
                rate=None
                if rate is None
                else _number(rate, f"{path}.info.delta.fundingRate", "a rate"),
            )
        )
    return payments
