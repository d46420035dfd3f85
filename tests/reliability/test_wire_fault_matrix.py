"""The venue-fault rows of the fault matrix (docs/reliability.md) re-run over HTTP: each fault is
injected on the venue lab's wire (guard/lab/venue_lab/faults.py) and met by the guard's real ccxt
gateway (and, for bad data, the service's tick), Binance USDⓈ-M. Each row prints one
"wire fault | fault | expected | measured" line (`scripts/soak wire-faults` prints the table) and
asserts the expected outcome. Every row takes well under a second or two: all run in CI."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from guard.core.domain import MarginMode, OrderPlan, OrderSide, OrderStatus, Side
from guard.core.venues.registry import rules_for
from guard.gateway.base import RateLimited, TemporaryError, UnknownOrderOutcome
from guard.gateway.ccxt import CcxtGateway
from guard.gateway.paper.scenarios import crash
from guard.lab.venue_lab import Budget, Fault, FaultKind, VenueLab, build_lab
from guard.store import Store
from tests.venue_lab import gateway, lab_accounts

BTC = "BTC/USDT:USDT"
ROOT = Path(__file__).resolve().parents[2]
Row = Callable[[VenueLab, Store], Awaitable[tuple[str, bool]]]


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


async def ready(lab: VenueLab, **settings: object) -> CcxtGateway:
    found = gateway(lab, "binance", **settings)
    await found.fetch_snapshot("bn")  # markets loaded before the fault is armed
    return found


def writes(lab: VenueLab) -> int:
    return sum(1 for r in lab.requests if r[0] == "binance" and r[1] in ("POST", "DELETE"))


def held(lab: VenueLab) -> Decimal:
    return lab.book.signed_position("bn", BTC)


async def latency(lab: VenueLab, store: Store) -> tuple[str, bool]:
    found = await ready(lab)
    lab.arm(Fault(FaultKind.LATENCY, "binance", "positions", seconds=0.3))
    began = time.perf_counter()
    try:
        snapshot = await found.fetch_snapshot("bn")
    finally:
        await found.close()
    took = time.perf_counter() - began
    return f"served after {took:.2f} s, {len(snapshot.positions)} positions", took >= 0.3


async def lost_answer(lab: VenueLab, kind: FaultKind) -> tuple[str, bool]:
    found = await ready(lab, timeout_ms=500)
    order, before = plan(kind.value), held(lab)
    lab.arm(Fault(kind, "binance", "create_order", seconds=1.0))
    outcome = "answered"
    try:
        try:
            await found.create_order(order)
        except UnknownOrderOutcome:
            outcome = "UnknownOrderOutcome"
        resolved = await found.fetch_order("bn", BTC, order.client_order_id)
    finally:
        await found.close()
    status = resolved.status.value if resolved is not None else "not found (-2013)"
    moved = before - held(lab)
    text = f"{outcome}; by client id: {status}; sent {writes(lab)}x; position reduced by {moved}"
    if kind is FaultKind.TIMEOUT_BEFORE_ACCEPT:
        return text, outcome == "UnknownOrderOutcome" and resolved is None and moved == 0
    filled = resolved is not None and resolved.status is OrderStatus.FILLED
    return text, outcome == "UnknownOrderOutcome" and filled and moved == Decimal("0.1")


async def timeout_before(lab: VenueLab, store: Store) -> tuple[str, bool]:
    return await lost_answer(lab, FaultKind.TIMEOUT_BEFORE_ACCEPT)


async def timeout_after(lab: VenueLab, store: Store) -> tuple[str, bool]:
    return await lost_answer(lab, FaultKind.TIMEOUT_AFTER_ACCEPT)


async def reset_after(lab: VenueLab, store: Store) -> tuple[str, bool]:
    return await lost_answer(lab, FaultKind.RESET_AFTER_ACCEPT)


async def storm(lab: VenueLab, times: int) -> tuple[str, bool]:
    found = await ready(lab)
    lab.arm(fault := Fault(FaultKind.HTTP_5XX, "binance", "positions", times=times, status=503))
    try:
        snapshot = await found.fetch_snapshot("bn")
        text, ok = f"served ({len(snapshot.positions)} positions)", True
    except TemporaryError as error:
        text, ok = f"{type(error).__name__}", times > 2
    finally:
        await found.close()
    return f"{fault.fired} x 503 answered, then {text}; writes {writes(lab)}", ok


async def short_storm(lab: VenueLab, store: Store) -> tuple[str, bool]:
    text, ok = await storm(lab, 1)
    return text, ok and text.startswith("1 x")


async def long_storm(lab: VenueLab, store: Store) -> tuple[str, bool]:
    text, ok = await storm(lab, 10)
    return text, ok and "TemporaryError" in text


async def storm_on_write(lab: VenueLab, store: Store) -> tuple[str, bool]:
    found = await ready(lab)
    before = held(lab)
    lab.arm(Fault(FaultKind.HTTP_5XX, "binance", "create_order", times=5, status=503))
    try:
        await found.create_order(plan("storm"))
        outcome = "answered"
    except (UnknownOrderOutcome, TemporaryError) as error:
        outcome = type(error).__name__
    finally:
        await found.close()
    sent = writes(lab)
    return f"{outcome}; sent {sent}x; position reduced by {before - held(lab)}", sent == 1 and (
        held(lab) == before
    )


async def partial(lab: VenueLab, store: Store) -> tuple[str, bool]:
    found = await ready(lab)
    lab.arm(Fault(FaultKind.PARTIAL_FILL, "binance", "create_order", fraction=Decimal("0.5")))
    try:
        result = await found.create_order(plan("partial", "0.4"))
    finally:
        await found.close()
    text = f"{result.status.value} {result.filled_quantity} of 0.4; sent {writes(lab)}x"
    return text, result.status is OrderStatus.PARTIALLY_FILLED and result.filled_quantity == (
        Decimal("0.2")
    )


async def ticked(lab: VenueLab, store: Store, fault: Fault, steps: int) -> Any:
    from guard.service import AccountRuntime, GuardService
    from guard.service.files import load_policies

    policies = load_policies([ROOT / "policies" / "default.yaml"])
    found = gateway(lab, "binance")
    service = GuardService(
        store=store,
        accounts={"bn": AccountRuntime("bn", rules_for("binance"), found, policies)},
        clock=lab.book.now,
    )
    lab.book.advance_to(lab.book.paper.now + crash().tick * steps)  # positions still open
    lab.arm(fault)
    try:
        return await service.tick("bn")
    finally:
        await found.close()


async def stale(lab: VenueLab, store: Store) -> tuple[str, bool]:
    report = await ticked(lab, store, Fault(FaultKind.STALE, "binance", times=1000), 30)
    reasons = "; ".join(h.reason for h in report.holds)
    sent = report.execution.sent if report.execution else 0
    return f"held: {reasons or 'none'}; orders {sent}", bool(report.holds) and writes(lab) == 0


async def contradictory(lab: VenueLab, store: Store) -> tuple[str, bool]:
    fault = Fault(FaultKind.CONTRADICTORY, "binance", "positions", times=1000)
    report = await ticked(lab, store, fault, 30)
    error = (report.error or "none").removeprefix("tick failed: ")
    return f"refused: {error}; orders {writes(lab)}", report.error is not None and writes(lab) == 0


async def limited(budget: Budget, calls: int) -> list[tuple[int, str | None]]:
    lab = build_lab(crash(), lab_accounts(), budgets={"binance": budget})
    await lab.start()
    url = lab.base_url("binance") + "/fapiPublic/fapi/v1/time"
    statuses = []
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(calls):
                async with session.get(url) as response:
                    statuses.append((response.status, response.headers.get("Retry-After")))
    finally:
        await lab.stop()
    return statuses


async def rate_limited(lab: VenueLab, store: Store) -> tuple[str, bool]:
    limited_lab = build_lab(crash(), lab_accounts(), budgets={"binance": Budget(2, 60.0)})
    await limited_lab.start()
    found = gateway(limited_lab, "binance")
    try:
        await found.fetch_snapshot("bn")
        outcome = "served"
    except TemporaryError as error:
        outcome = type(error).__name__
    finally:
        await found.close()
        await limited_lab.stop()
    refused = [r for r in limited_lab.rejections if r.operation == "create_order"]
    ok = outcome in (RateLimited.__name__, TemporaryError.__name__) and not refused
    return f"snapshot: {outcome}; lab saw {writes(limited_lab)} writes", ok


async def ban(lab: VenueLab, store: Store) -> tuple[str, bool]:
    statuses = await limited(Budget(3, 60.0, ban=120.0), 5)
    shown = ", ".join(f"{s}" + (f" (Retry-After {r})" if r else "") for s, r in statuses)
    ok = [s for s, _ in statuses] == [200, 200, 200, 429, 418] and statuses[4][1] == "120"
    return shown, ok and statuses[3][1] is not None


ROWS: list[tuple[str, str, Row]] = [
    ("latency 0.3 s on a read", "served late, nothing lost", latency),
    (
        "timeout before the venue accepted",
        "UnknownOrderOutcome; the look-up by client id proves it unplaced; position unchanged",
        timeout_before,
    ),
    (
        "timeout after the venue accepted",
        "UnknownOrderOutcome; found filled by client id; sent once",
        timeout_after,
    ),
    (
        "connection reset after the venue accepted",
        "UnknownOrderOutcome; found filled by client id; sent once",
        reset_after,
    ),
    ("one 5xx on a read", "retried and served", short_storm),
    ("5xx storm longer than the retries", "TemporaryError; no write", long_storm),
    ("5xx storm on a write", "sent once, never resent; nothing booked", storm_on_write),
    ("partial fill", "PARTIALLY_FILLED with the filled half", partial),
    (
        "stale payloads (venue times 10 min old, served now)",
        "held by the staleness rail; no order",
        stale,
    ),
    (
        "contradictory payloads (positionRisk sign flipped vs the account endpoint)",
        "refused as bad data naming venue and fields; no order",
        contradictory,
    ),
    ("429 on a snapshot read", "RateLimited/TemporaryError, not a rejection", rate_limited),
    ("requests continued after a 429 (Binance)", "429 with Retry-After, then 418 ban", ban),
]


@pytest.mark.parametrize(("fault", "expected", "row"), ROWS, ids=[r[0] for r in ROWS])
async def test_wire_fault_when_injected_then_expected_outcome_measured(
    venue_lab: VenueLab, sqlite_store: Store, fault: str, expected: str, row: Row
) -> None:
    measured, ok = await row(venue_lab, sqlite_store)
    print(f"wire fault | {fault} | {expected} | {measured} | {'as expected' if ok else 'NOT'}")
    assert ok, measured
