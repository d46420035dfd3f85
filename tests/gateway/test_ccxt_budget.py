"""The venue's request-weight budget (issue 20): a rolling window of the weight the venue documents
per IP (Binance USDⓈ-M "General Info → Limits": REQUEST_WEIGHT 2400 per minute; Hyperliquid "Rate
limits and user limits": 1200 weight per minute), charged ccxt's per-endpoint cost, protective work
first and with a reserve that routine reads cannot spend."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

from guard.gateway.ccxt import CcxtGateway
from guard.gateway.ccxt.budget import (
    LIMITS,
    PRIORITY,
    PRIORITY_PROTECTIVE,
    PRIORITY_ROUTINE,
    VenueLimits,
    WeightBudget,
)
from guard.gateway.ccxt.clients import make_client
from guard.gateway.ccxt.slots import PriorityGate, protective_reserve
from tests.gateway.cases import CASES, ENV, settings
from tests.gateway.helpers import gateway_for, replay

SMALL = VenueLimits(10, 0.2, 64, reserve=0.2)  # routine may start 8 per 0.2 s, protective 10


async def _spend(
    budget: WeightBudget, cost: float, priority: int, log: list[str], name: str
) -> None:
    PRIORITY.set(priority)  # in a task of its own: its own context, as each request's
    await budget(cost)
    log.append(name)


async def test_budget_when_routine_spent_its_share_then_it_waits_and_protective_spends_the_reserve() -> (
    None
):
    budget = WeightBudget(SMALL)
    log: list[str] = []
    await _spend(budget, 8, PRIORITY_ROUTINE, log, "poll")
    routine = asyncio.create_task(_spend(budget, 1, PRIORITY_ROUTINE, log, "poll-2"))
    await asyncio.sleep(0.01)
    assert log == ["poll"]  # routine is held back at 8 of 10
    await asyncio.wait_for(_spend(budget, 2, PRIORITY_PROTECTIVE, log, "reduce"), 0.05)
    assert log == ["poll", "reduce"] and budget.used() == 10
    await asyncio.wait_for(routine, 1.0)  # once the window has passed
    assert log == ["poll", "reduce", "poll-2"]


async def test_budget_when_both_wait_for_the_window_then_protective_goes_first() -> None:
    budget = WeightBudget(SMALL)
    log: list[str] = []
    await _spend(budget, 10, PRIORITY_PROTECTIVE, log, "first")
    routine = asyncio.create_task(_spend(budget, 5, PRIORITY_ROUTINE, log, "poll"))
    await asyncio.sleep(0.01)
    protective = asyncio.create_task(_spend(budget, 5, PRIORITY_PROTECTIVE, log, "reduce"))
    await asyncio.wait_for(asyncio.gather(routine, protective), 1.0)
    assert log == ["first", "reduce", "poll"]


async def test_budget_when_many_callers_then_weight_started_in_any_window_within_the_limit() -> (
    None
):
    limits = VenueLimits(20, 0.05, 64, reserve=0.25)
    budget = WeightBudget(limits)
    loop = asyncio.get_running_loop()
    started: list[tuple[float, float]] = []
    rng = random.Random(20)

    async def one(cost: float, priority: int) -> None:
        PRIORITY.set(priority)
        await budget(cost)
        started.append((loop.time(), cost))

    await asyncio.wait_for(
        asyncio.gather(*(one(rng.choice([1, 2, 5]), rng.choice([0, 1])) for _ in range(120))),
        10,
    )
    assert len(started) == 120 and budget.waited > 0
    for at, _ in started:
        inside = sum(c for t, c in started if at <= t < at + limits.window)
        assert inside <= limits.weight


async def test_gateway_when_binance_then_documented_budget_shared_and_charged_ccxt_costs() -> None:
    case = CASES["binance"]
    gateway = CcxtGateway(
        "binance", [case.config()], settings=settings(ccxt_rate_limit=True), environ=ENV
    )
    try:
        assert gateway.budget is not None and gateway.budget.limits == LIMITS["binance"]
        assert gateway.budget.limits.weight == 2400 and gateway.budget.limits.window == 60
        assert gateway.in_flight == LIMITS["binance"].in_flight
        client = gateway.client(case.account)
        assert client.throttler is gateway.budget is gateway.public.throttler
        with replay("binance", "snapshot"):
            await gateway.raw_snapshot(case.account)
        # v3 positionRisk and account at their documented weight 5 (ccxt's table says 1),
        # exchangeInfo 1, premiumIndex 1, depth 2, leverageBracket 1 (twice): ccxt's costs
        assert gateway.budget.used() == 5 + 5 + 1 + 1 + 2 + 1 + 1 and gateway.budget.waited == 0
    finally:
        await gateway.close()


def test_gateway_when_venue_limits_unchecked_then_ccxt_spacing_and_small_in_flight_cap() -> None:
    case = CASES["bybit"]
    gateway = CcxtGateway(
        "bybit", [case.config()], settings=settings("bybit", ccxt_rate_limit=True), environ=ENV
    )
    assert gateway.budget is None and gateway.in_flight == 4
    assert not isinstance(gateway.public.throttler, WeightBudget)


# Hyperliquid "Rate limits and user limits" (hyperliquid.gitbook.io/hyperliquid-docs/for-developers/
# api/rate-limits-and-user-limits, mirror dzmbs/hyperliquid-docs 14ba3d4): "The following `info`
# requests have weight 2: l2Book, allMids, clearinghouseState, orderStatus, spotClearinghouseState,
# exchangeStatus. ... userRole 60. All other documented info requests have weight 20"; "exchange
# API requests have a weight of 1 + floor(batch_length / 40) ... a batched order request of length
# 79 has weight 2".
HL_DOC_WEIGHT = {"clearinghouseState": 2, "l2Book": 2, "userAbstraction": 20, "perpDexs": 20}
HL_DOC_WEIGHT |= {"meta": 20, "metaAndAssetCtxs": 20}


async def test_gateway_when_hyperliquid_snapshot_then_each_info_request_charged_its_documented_type_weight() -> (
    None
):
    gateway, wire = gateway_for("hyperliquid", ccxt_rate_limit=True)
    try:
        assert gateway.budget is not None and gateway.budget.limits == LIMITS["hyperliquid"]
        with replay("hyperliquid", "snapshot"):
            await gateway.raw_snapshot(CASES["hyperliquid"].account)
        types = [sent.json()["type"] for sent in wire.sent]
        assert types == [
            "metaAndAssetCtxs",  # markets
            "clearinghouseState",
            "userAbstraction",
            "perpDexs",
            "meta",  # margin tables
            "metaAndAssetCtxs",  # funding
            "l2Book",
        ]
        # ccxt's own table charges 10 for every info type but the weight-2 ones (54 here)
        assert gateway.budget.used() == sum(HL_DOC_WEIGHT[t] for t in types) == 104
    finally:
        await gateway.close()


async def test_gateway_when_hyperliquid_batch_of_79_cancels_then_charged_1_plus_floor_79_over_40() -> (
    None
):
    gateway, _ = gateway_for("hyperliquid", ccxt_rate_limit=True)
    try:
        with replay("hyperliquid", "snapshot"):
            await gateway.markets()
        client = gateway.client(CASES["hyperliquid"].account)
        client.set_markets(gateway.public.markets, gateway.public.currencies)
        symbol = CASES["hyperliquid"].symbol
        found = []
        for batch in (1, 39, 40, 79, 80):
            request = client.cancel_orders_request([str(i) for i in range(batch)], symbol)
            assert len(request["action"]["cancels"]) == batch  # the body ccxt signs and sends
            found.append(
                client.calculate_rate_limiter_cost(["private"], "POST", "exchange", request)
            )
        assert found == [1, 1, 2, 2, 3]
        info = client.calculate_rate_limiter_cost(
            ["public"], "POST", "info", {"type": "userRole", "user": "0x" + "0" * 40}
        )
        assert info == 60
    finally:
        await gateway.close()


# Hyperliquid "Rate limits and user limits": "The following info endpoints have an additional
# rate limit weight per 20 items returned in the response: ... fundingHistory ..."; the answer's
# shape is the docs' "Retrieve historical funding rates" (info-endpoint/perpetuals.md).
FUNDING_ROW = {"coin": "SOL", "fundingRate": "-0.00022196", "premium": "-0.00052196"}


async def test_gateway_when_hyperliquid_funding_history_returns_45_rows_then_3_more_weight_charged() -> (
    None
):
    case = CASES["hyperliquid"]

    def factory(spec: Any, secrets: Any) -> Any:
        client = make_client(spec, secrets, settings("hyperliquid", ccxt_rate_limit=True))
        recorded = client.fetch

        async def fetch(
            url: str, method: str = "GET", headers: Any = None, body: Any = None
        ) -> Any:
            if '"fundingHistory"' in str(body):
                start = json.loads(body)["startTime"]
                return [{**FUNDING_ROW, "time": start + i * 3_600_000} for i in range(45)]
            return await recorded(url, method, headers, body)

        client.fetch = fetch
        return client

    gateway = CcxtGateway(
        "hyperliquid",
        [case.config()],
        settings=settings("hyperliquid", ccxt_rate_limit=True),
        environ=ENV,
        client_factory=factory,
    )
    try:
        with replay("hyperliquid", "snapshot"):
            await gateway.markets()
        assert gateway.budget is not None
        before = gateway.budget.used()
        rows = await gateway.public.fetch_funding_rate_history(case.symbol, 1_700_000_000_000)
        assert len(rows) == 45
        # the request's own 20 (ccxt: 10) and one per started 20 rows returned
        assert gateway.budget.used() - before == 20 + 3
    finally:
        await gateway.close()


async def test_gate_when_routine_reads_hold_every_slot_waiting_for_the_window_then_protective_order_still_goes() -> (
    None
):
    # ccxt's throttle waits inside the request, so a routine read waiting for the weight window
    # holds its in-flight slot: with every slot held that way, a reduce-only order must still get
    # a slot (the protective reserve) and the window's reserve, not wait for the window to roll.
    budget = WeightBudget(VenueLimits(10, 5.0, 2, reserve=0.2))
    gate = PriorityGate(2, protective_reserve(2))
    log: list[str] = []

    async def request(cost: float, priority: int, name: str) -> None:
        PRIORITY.set(priority)
        async with gate.slot(priority):
            await budget(cost)
            log.append(name)

    await request(8, PRIORITY_ROUTINE, "poll")  # the routine share of the window is spent
    polls = [asyncio.create_task(request(1, PRIORITY_ROUTINE, f"poll-{i}")) for i in range(3)]
    await asyncio.sleep(0.01)
    assert log == ["poll"]  # two polls hold both slots waiting for the window, one waits for a slot
    await asyncio.wait_for(request(1, PRIORITY_PROTECTIVE, "reduce"), 0.5)
    assert log == ["poll", "reduce"]
    for poll in polls:
        poll.cancel()
    await asyncio.gather(*polls, return_exceptions=True)


async def test_gate_when_reserved_slot_freed_then_routine_waiter_keeps_waiting_for_a_shared_one() -> (
    None
):
    gate = PriorityGate(1, 1)
    log: list[str] = []
    release_shared, release_reserved = asyncio.Event(), asyncio.Event()

    async def hold(priority: int, until: asyncio.Event, name: str) -> None:
        async with gate.slot(priority):
            log.append(name)
            await until.wait()

    shared = asyncio.create_task(hold(PRIORITY_ROUTINE, release_shared, "poll"))
    await asyncio.sleep(0)
    reserved = asyncio.create_task(hold(PRIORITY_PROTECTIVE, release_reserved, "reduce"))
    await asyncio.sleep(0)
    waiter = asyncio.create_task(hold(PRIORITY_ROUTINE, asyncio.Event(), "poll-2"))
    await asyncio.sleep(0)
    assert log == ["poll", "reduce"]
    release_reserved.set()
    await reserved
    await asyncio.sleep(0)
    assert log == ["poll", "reduce"]  # the reserved slot went back to the reserve
    release_shared.set()
    await shared
    await asyncio.sleep(0)
    assert log == ["poll", "reduce", "poll-2"]
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
