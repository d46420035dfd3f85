"""Faults injected on the venue lab's wire, seen through the guard's ccxt gateway: a reset or a
timeout after the venue accepted is an unknown outcome resolved by client id as filled; a timeout
before accept is an unknown outcome the lookup proves unplaced; 5xx storms are retried on reads
and never on writes; partial fills, latency, stale and contradictory payloads; rate limits answer
429 with Retry-After and Binance bans an IP that ignores them (418)."""

from __future__ import annotations

import time
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from guard.core.domain import MarginMode, OrderPlan, OrderSide, OrderStatus, Side
from guard.core.venues.registry import rules_for
from guard.gateway.base import TemporaryError, UnknownOrderOutcome
from guard.gateway.ccxt import CcxtGateway
from guard.gateway.paper.scenarios import crash
from guard.lab.venue_lab import Budget, Fault, FaultKind, VenueLab, build_lab
from tests.venue_lab import gateway, lab_accounts

BTC = "BTC/USDT:USDT"


def plan(cid_part: str, quantity: str = "0.1") -> OrderPlan:
    return OrderPlan(
        account="bn",
        symbol=BTC,
        side=OrderSide.SELL,
        quantity=Decimal(quantity),
        position_side=Side.LONG,
        margin_mode=MarginMode.CROSS,
        client_order_id=rules_for("binance").client_order_id("bn", cid_part),
    )


async def _gateway(lab: VenueLab, **settings: object) -> CcxtGateway:
    found = gateway(lab, "binance", **settings)
    await found.fetch_snapshot("bn")  # markets and specs loaded before any fault is armed
    return found


@pytest.mark.parametrize("kind", [FaultKind.RESET_AFTER_ACCEPT, FaultKind.TIMEOUT_AFTER_ACCEPT])
async def test_create_when_answer_lost_after_accept_then_unknown_and_found_filled_by_client_id(
    venue_lab: VenueLab, kind: FaultKind
) -> None:
    found = await _gateway(venue_lab, timeout_ms=500)
    order = plan(kind.value)
    venue_lab.arm(Fault(kind, "binance", "create_order", seconds=1.0))
    try:
        with pytest.raises(UnknownOrderOutcome):
            await found.create_order(order)
        resolved = await found.fetch_order("bn", BTC, order.client_order_id)
    finally:
        await found.close()
    assert resolved is not None and resolved.status is OrderStatus.FILLED
    assert resolved.filled_quantity == Decimal("0.1")
    assert venue_lab.book.signed_position("bn", BTC) == Decimal("1.1")


async def test_create_when_timeout_before_accept_then_unknown_and_lookup_proves_unplaced(
    venue_lab: VenueLab,
) -> None:
    found = await _gateway(venue_lab, timeout_ms=500)
    order = plan("before")
    venue_lab.arm(Fault(FaultKind.TIMEOUT_BEFORE_ACCEPT, "binance", "create_order", seconds=1.0))
    try:
        with pytest.raises(UnknownOrderOutcome):
            await found.create_order(order)
        resolved = await found.fetch_order("bn", BTC, order.client_order_id)
    finally:
        await found.close()
    assert resolved is None  # -2013 "Order does not exist": safe to re-send
    assert venue_lab.book.signed_position("bn", BTC) == Decimal("1.2")


async def test_reads_when_short_5xx_storm_then_retried_and_served(venue_lab: VenueLab) -> None:
    found = await _gateway(venue_lab)
    venue_lab.arm(Fault(FaultKind.HTTP_5XX, "binance", "positions", times=1, status=503))
    try:
        snapshot = await found.fetch_snapshot("bn")
    finally:
        await found.close()
    assert len(snapshot.positions) == 3


async def test_reads_when_storm_outlasts_retries_then_temporary_error(venue_lab: VenueLab) -> None:
    found = await _gateway(venue_lab)
    venue_lab.arm(Fault(FaultKind.HTTP_5XX, "binance", "positions", times=10, status=502))
    try:
        with pytest.raises(TemporaryError):
            await found.fetch_snapshot("bn")
    finally:
        await found.close()


async def test_create_when_5xx_then_rejected_once_and_never_resent(venue_lab: VenueLab) -> None:
    found = await _gateway(venue_lab)
    venue_lab.arm(Fault(FaultKind.HTTP_5XX, "binance", "create_order", times=5, status=503))
    try:
        with pytest.raises((UnknownOrderOutcome, TemporaryError)):
            await found.create_order(plan("storm"))
    finally:
        await found.close()
    posts = [r for r in venue_lab.requests if r[1] == "POST"]
    assert len(posts) == 1  # a write is sent once
    assert venue_lab.book.signed_position("bn", BTC) == Decimal("1.2")


async def test_create_when_partial_fill_then_result_partially_filled(venue_lab: VenueLab) -> None:
    found = await _gateway(venue_lab)
    venue_lab.arm(Fault(FaultKind.PARTIAL_FILL, "binance", "create_order", fraction=Decimal("0.5")))
    try:
        result = await found.create_order(plan("partial", "0.4"))
    finally:
        await found.close()
    assert result.status is OrderStatus.PARTIALLY_FILLED
    assert result.filled_quantity == Decimal("0.2")
    assert venue_lab.book.signed_position("bn", BTC) == Decimal("1.0")


async def test_reads_when_latency_injected_then_answer_arrives_late(venue_lab: VenueLab) -> None:
    found = await _gateway(venue_lab)
    venue_lab.arm(Fault(FaultKind.LATENCY, "binance", "positions", seconds=0.3))
    began = time.perf_counter()
    try:
        await found.fetch_snapshot("bn")
    finally:
        await found.close()
    assert time.perf_counter() - began >= 0.3


async def test_reads_when_stale_then_payload_times_and_marks_are_old(venue_lab: VenueLab) -> None:
    venue_lab.book.advance_to(venue_lab.book.paper.now + (crash().tick * 120))  # in the cascade
    url = venue_lab.base_url("binance") + "/fapiPublic/fapi/v1/premiumIndex?symbol=BTCUSDT"
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as response:
            fresh = await response.json()
        venue_lab.arm(Fault(FaultKind.STALE, "binance"))
        async with session.get(url) as response:
            stale = await response.json()
    assert stale["time"] == fresh["time"] - 600_000
    assert Decimal(stale["markPrice"]) != Decimal(fresh["markPrice"])


async def test_positions_when_contradictory_then_refused_as_bad_data_and_no_order(
    venue_lab: VenueLab,
    sqlite_store,  # type: ignore[no-untyped-def]
) -> None:
    from guard.service import AccountRuntime, GuardService
    from guard.service.files import load_policies

    policies = load_policies([Path(__file__).resolve().parents[3] / "policies" / "default.yaml"])
    found = gateway(venue_lab, "binance")
    service = GuardService(
        store=sqlite_store,
        accounts={"bn": AccountRuntime("bn", rules_for("binance"), found, policies)},
        clock=venue_lab.book.now,
    )
    try:
        first = await service.tick("bn")
        venue_lab.arm(Fault(FaultKind.CONTRADICTORY, "binance", "positions"))
        second = await service.tick("bn")
    finally:
        await found.close()
    assert first.error is None and not first.holds
    # a flipped position is bad data: refused, naming the venue and both payload fields
    assert second.error is not None and "binance payload positions[" in second.error
    assert ".info.positionAmt" in second.error and "account_info.positions[" in second.error
    assert not (second.execution and second.execution.sent)
    assert not [r for r in venue_lab.requests if r[1] in ("POST", "DELETE")]  # no order


async def test_binance_when_budget_exceeded_then_429_retry_after_and_418_ban() -> None:
    lab = build_lab(crash(), lab_accounts(), budgets={"binance": Budget(3, 60.0, ban=120.0)})
    await lab.start()
    url = lab.base_url("binance") + "/fapiPublic/fapi/v1/time"
    try:
        async with aiohttp.ClientSession() as session:
            statuses = []
            for _ in range(5):
                async with session.get(url) as response:
                    statuses.append((response.status, response.headers.get("Retry-After")))
    finally:
        await lab.stop()
    assert [s for s, _ in statuses] == [200, 200, 200, 429, 418]
    assert statuses[3][1] is not None and int(statuses[3][1]) >= 1
    assert statuses[4][1] == "120"


async def test_gateway_when_rate_limited_then_temporary_error_not_rejection() -> None:
    lab = build_lab(crash(), lab_accounts(), budgets={"bybit": Budget(2, 60.0)})
    await lab.start()
    found = gateway(lab, "bybit")
    try:
        with pytest.raises(TemporaryError, match=r"10006|Too many|429|RateLimit"):
            await found.fetch_snapshot("by")
    finally:
        await found.close()
        await lab.stop()


def test_fault_when_matched_then_fires_only_its_times() -> None:
    fault = Fault(FaultKind.HTTP_5XX, "binance", "positions", times=2)
    assert fault.matches("binance", "positions") and not fault.matches("okx", "positions")
    fault = replace(fault, fired=2)
    assert not fault.matches("binance", "positions")


async def test_reads_when_venue_serves_stale_payloads_then_staleness_rail_holds(
    venue_lab: VenueLab,
    sqlite_store: Any,
) -> None:
    from guard.service import AccountRuntime, GuardService
    from guard.service.files import load_policies

    policies = load_policies([Path(__file__).resolve().parents[3] / "policies" / "default.yaml"])
    found = gateway(venue_lab, "binance")
    service = GuardService(
        store=sqlite_store,
        accounts={"bn": AccountRuntime("bn", rules_for("binance"), found, policies)},
        clock=venue_lab.book.now,
    )
    venue_lab.book.advance_to(venue_lab.book.paper.now + crash().tick * 30)
    venue_lab.arm(Fault(FaultKind.STALE, "binance", times=1000))
    try:
        report = await service.tick("bn")
    finally:
        await found.close()
    # the payload's own times are 10 minutes old although served now: held, nothing sent
    assert [h.rail.value for h in report.holds] == ["stale"]
    assert "600.0s old" in report.holds[0].reason
    assert not [r for r in venue_lab.requests if r[1] in ("POST", "DELETE")]
