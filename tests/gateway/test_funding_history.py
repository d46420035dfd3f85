"""The account's own funding payments through the ccxt gateway: Hyperliquid's userFunding read
with its sign and side (the other venues: tests/gateway/test_funding_venues.py and, over the
wire, tests/lab/venue_lab/test_funding_wire.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from guard.core.domain import Side
from guard.gateway.base import funding_history
from guard.gateway.ccxt import CcxtGateway
from guard.gateway.parsers.common import PayloadError
from guard.gateway.parsers.funding_history import hyperliquid_payments
from tests.gateway.cases import CASES, ENV, settings

# The userFunding entry quoted in ccxt's hyperliquid.fetch_funding_history (ccxt 4.5.90), as its
# parse_income returns it: a SOL short of 7 375.9 at a positive hourly rate 0.00004381 receives
# 75.635093 USDC (positive rate: longs pay shorts). 7 375.9 x ~234 x 0.00004381 = 75.6.
ENTRY = {
    "info": {
        "time": 1734026400057,
        "hash": "0x" + "0" * 64,
        "delta": {
            "type": "funding",
            "coin": "SOL",
            "usdc": "75.635093",
            "szi": "-7375.9",
            "fundingRate": "0.00004381",
            "nSamples": None,
        },
    },
    "symbol": "SOL/USDC:USDC",
    "code": "USDC",
    "timestamp": 1734026400057,
    "amount": 75.635093,
    "rate": 0.00004381,
}


def test_hyperliquid_when_short_receives_then_negative_paid_on_the_short() -> None:
    (payment,) = hyperliquid_payments([ENTRY])
    assert (payment.symbol, payment.side) == ("SOL/USDC:USDC", Side.SHORT)
    assert payment.amount == Decimal("-75.635093")  # received: negative in the report's sign
    assert payment.quantity == Decimal("7375.9") and payment.rate == Decimal("0.00004381")
    assert payment.at == datetime(2024, 12, 12, 18, 0, 0, 57000, tzinfo=UTC)


def test_hyperliquid_when_size_is_missing_then_error_names_the_field() -> None:
    broken = {**ENTRY, "info": {"delta": {**ENTRY["info"]["delta"], "szi": None}}}  # type: ignore[dict-item]
    with pytest.raises(PayloadError, match=r"funding_history\[0\]\.info\.delta\.szi"):
        hyperliquid_payments([broken])


class _Client:
    def __init__(self) -> None:
        self.asked: list[tuple[Any, Any]] = []

    async def fetch_funding_history(
        self, symbol: Any, since: Any, limit: Any = None
    ) -> list[dict[str, Any]]:
        self.asked.append((symbol, since))
        return [ENTRY]


async def test_gateway_when_hyperliquid_then_reads_since_in_milliseconds() -> None:
    gateway = CcxtGateway(
        "hyperliquid",
        [CASES["hyperliquid"].config()],
        settings=settings("hyperliquid"),
        environ=ENV,
    )
    client = _Client()

    async def ready(account: str) -> _Client:
        return client

    gateway._ready = ready  # type: ignore[method-assign]
    try:
        since = datetime(2024, 12, 12, tzinfo=UTC)
        payments = await funding_history(gateway, CASES["hyperliquid"].config().name, since)
    finally:
        await gateway.close()
    assert client.asked == [(None, 1733961600000)]
    assert [p.amount for p in payments] == [Decimal("-75.635093")]


HOUR_MS = 3_600_000
T_BN = 1_722_816_000_000  # 2024-08-05 00:00 UTC


class _PagedBinance:
    """Binance income of a 0.5 BTC long at hourly times, served by startTime and limit the way
    /fapi/v1/income answers (oldest first, startTime inclusive), unified as ccxt does."""

    def __init__(self) -> None:
        self.asked: list[int] = []

    async def fetch_funding_history(self, symbol: Any, since: int, limit: int) -> list[Any]:
        self.asked.append(since)
        rows = [
            {"symbol": "BTCUSDT", "incomeType": "FUNDING_FEE", "income": "-0.4", "asset": "USDT",
             "info": "FUNDING_FEE", "time": T_BN + h * HOUR_MS, "tranId": h, "tradeId": ""}
            for h in (1, 2, 3)
        ]  # fmt: skip
        chosen = [r for r in rows if int(r["time"]) >= since][:limit]  # type: ignore[call-overload]
        return [{"info": r, "symbol": "BTC/USDT:USDT", "timestamp": r["time"]} for r in chosen]

    async def fetch_funding_rate_history(self, symbol: str, since: int, limit: int) -> list[Any]:
        rows = [
            {"symbol": "BTCUSDT", "fundingRate": "0.0001", "fundingTime": T_BN + h * HOUR_MS,
             "markPrice": "8000"}
            for h in (1, 2, 3)
        ]  # fmt: skip
        return [{"info": r, "timestamp": r["fundingTime"]} for r in rows][:limit]


async def test_gateway_when_income_pages_overlap_at_a_time_then_each_payment_counted_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from guard.gateway.ccxt import funding_history as module

    monkeypatch.setattr(module, "BINANCE_PAGE", 2)
    gateway = CcxtGateway("binance", [CASES["binance"].config()], settings=settings(), environ=ENV)
    client = _PagedBinance()

    async def ready(account: str) -> _PagedBinance:
        return client

    gateway._ready = ready  # type: ignore[method-assign]
    try:
        since = datetime(2024, 8, 5, tzinfo=UTC)
        payments = await funding_history(gateway, CASES["binance"].config().name, since)
    finally:
        await gateway.close()
    # page 1: 01:00, 02:00 (full); page 2 starts AT 02:00 (several rows may share it): 02:00
    # again (dropped) and 03:00; page 3 from 03:00 is short. 3 x 0.4 paid, once each.
    assert client.asked == [T_BN, T_BN + 2 * HOUR_MS, T_BN + 3 * HOUR_MS]
    assert [p.amount for p in payments] == [Decimal("0.4")] * 3
