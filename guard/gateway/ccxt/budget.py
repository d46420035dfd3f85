"""The venue's request-weight budget as the venue counts it (not pure: the loop's clock, timers):
a rolling window of request weight per venue and egress IP, installed as ccxt's shared throttler,
so each request is charged ccxt's own per-endpoint cost (the venue's documented weight). Routine
work may use the window up to a reserve that only protective work (reduce-only orders and their
look-ups) may spend, and waiting protective work is served first. Invariant: the weight started
within any window never exceeds the venue's documented limit."""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import itertools
import json
import math
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

PRIORITY_PROTECTIVE = 0  # reduce-only orders, cancels, and the lookups that resolve them
PRIORITY_ROUTINE = 1  # snapshots and market data

# the priority of the request being made in this task (set by the session around each call)
PRIORITY: contextvars.ContextVar[int] = contextvars.ContextVar(
    "guard_request_priority", default=PRIORITY_ROUTINE
)


@dataclass(frozen=True, slots=True)
class VenueLimits:
    """A venue's documented request limit per egress IP, in ccxt's cost units for that venue."""

    weight: float  # per window
    window: float  # seconds
    in_flight: int  # requests in flight through the gateway (sockets), not a venue limit
    reserve: float = 0.2  # share of the window that only protective work may spend
    source: str = ""
    # documented weights of endpoints (by ccxt path) that ccxt's cost table undercounts
    weights: Mapping[str, float] = field(default_factory=dict)
    # a venue whose documented weight depends on the request body: (ccxt path, params) -> the
    # weight, None where the venue documents none for that path
    body_weight: Callable[[str, Mapping[str, Any]], float | None] | None = None
    # what the venue adds for an answer: (request body, parsed answer) -> extra weight
    answer_weight: Callable[[Any, Any], float] | None = None


# Hyperliquid "Rate limits and user limits" (hyperliquid.gitbook.io/hyperliquid-docs/for-developers/
# api/rate-limits-and-user-limits): info requests weigh 2 for the types below, 60 for userRole, 20
# for every other documented type; exchange actions 1 + floor(batch_length / 40), batch_length
# being the length of the array in the action (orders, cancels, modifies).
HL_INFO_LIGHT = frozenset(
    {"l2Book", "allMids", "clearinghouseState", "orderStatus", "spotClearinghouseState"}
    | {"exchangeStatus"}
)
HL_INFO_HEAVY: Mapping[str, float] = {"userRole": 60}
HL_INFO_DEFAULT = 20.0
HL_BATCH_STEP = 40
# "additional rate limit weight per 20 items returned in the response" (candleSnapshot: per 60),
# read as one more for every started 20 (60): never less than the venue counts
HL_PER_ITEMS: Mapping[str, int] = {
    kind: 20
    for kind in (
        "recentTrades",
        "historicalOrders",
        "userFills",
        "userFillsByTime",
        "fundingHistory",
        "userFunding",
        "nonUserFundingUpdates",
        "twapHistory",
        "userTwapSliceFills",
        "userTwapSliceFillsByTime",
        "delegatorHistory",
        "delegatorRewards",
        "validatorStats",
    )
} | {"candleSnapshot": 60}


def hyperliquid_weight(path: str, params: Mapping[str, Any]) -> float | None:
    """The documented weight of one Hyperliquid REST request from its ccxt path and body, before
    it is sent (the extra weight per items returned: `hyperliquid_answer_weight`)."""
    if path == "info":
        kind = str(params.get("type"))
        if kind in HL_INFO_LIGHT:
            return 2.0
        return HL_INFO_HEAVY.get(kind, HL_INFO_DEFAULT)
    if path == "exchange":
        action = params.get("action")
        arrays = (
            [len(v) for v in action.values() if isinstance(v, list)]
            if isinstance(action, Mapping)
            else []
        )
        return float(1 + max(arrays, default=0) // HL_BATCH_STEP)
    return None


def hyperliquid_answer_weight(body: Any, answer: Any) -> float:
    """The extra weight Hyperliquid counts for the items an info request returned (0 for other
    requests): one per started 20 items (60 candles) of the answer's list."""
    try:
        kind = json.loads(body).get("type") if isinstance(body, str | bytes) else None
    except (ValueError, AttributeError):
        return 0.0
    per = HL_PER_ITEMS.get(str(kind))
    if per is None or not isinstance(answer, list):
        return 0.0
    return float(math.ceil(len(answer) / per))


# Only venues whose documented limit and ccxt's cost units were checked against each other:
# Binance USDⓈ-M "General Info → Limits": REQUEST_WEIGHT 2400 per minute per IP; ccxt's binance
# costs are the documented weights, except its v2/v3 account, balance and positionRisk (cost 1;
# documented weight 5: "Account Information V3", "Futures Account Balance V3", "Position
# Information V3"), charged here at 5.
# Hyperliquid "Rate limits and user limits": 1200 weight per minute per IP aggregated over REST
# (ccxt's cost unit, rateLimit 50 ms, is one weight); ccxt charges every info request 10 but the
# types of HL_INFO_LIGHT (2) and candleSnapshot (4), and every exchange action 1: the documented
# weight by info type and batch length is charged instead (hyperliquid_weight, never lower).
# Other venues keep ccxt's own request spacing and the small in-flight cap.
LIMITS: dict[str, VenueLimits] = {
    "binance": VenueLimits(
        2400,
        60.0,
        64,
        source="Binance USDⓈ-M REQUEST_WEIGHT 2400/min/IP",
        weights={"account": 5, "balance": 5, "positionRisk": 5},
    ),
    "hyperliquid": VenueLimits(
        1200,
        60.0,
        64,
        source="Hyperliquid 1200 weight/min/IP (REST), weights by info type and batch length",
        body_weight=hyperliquid_weight,
        answer_weight=hyperliquid_answer_weight,
    ),
}
DEFAULT_IN_FLIGHT = 4  # venues without a checked weight budget


def charge_answers(client: Any, budget: WeightBudget, weight: Callable[[Any, Any], float]) -> None:
    """`client`'s transport wrapped so that what the venue charges for an answer (`weight` of
    the request body and the parsed answer) is spent in `budget` when the answer arrives."""
    original = client.fetch

    async def fetch(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        answer = await original(url, method, headers, body)
        extra = weight(body, answer)
        if extra > 0:
            budget.charge(extra)
        return answer

    client.fetch = fetch


class WeightBudget:
    """A rolling window of request weight; callable as ccxt's throttler (`await budget(cost)`)."""

    def __init__(
        self,
        limits: VenueLimits,
        *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if limits.weight <= 0 or limits.window <= 0 or not 0 <= limits.reserve < 1:
            raise ValueError(f"invalid venue limits {limits}")
        self.limits = limits
        self.loop: asyncio.AbstractEventLoop | None = None  # ccxt sets it on open()
        self._clock = clock
        self._spent: deque[tuple[float, float]] = deque()  # (started at, weight)
        self._used = 0.0
        self._waiting: list[tuple[int, int, float, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self.waited = 0  # requests that had to wait for the window

    def now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    def charge(self, weight: float) -> None:
        """Spend `weight` now without waiting: what the venue charged for an answer already
        received (later requests wait for it to leave the window)."""
        self._spend(float(weight))

    def used(self) -> float:
        """The weight started within the last window."""
        self._expire(self.now())
        return self._used

    async def __call__(self, cost: float | None = None) -> None:
        weight = float(cost if cost is not None else 1)
        priority = PRIORITY.get()
        if not self._waiting and self._fits(weight, priority):
            self._spend(weight)
            return
        self.waited += 1
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (priority, next(self._order), weight, future))
        self._serve()
        await future

    def _cap(self, priority: int) -> float:
        if priority <= PRIORITY_PROTECTIVE:
            return self.limits.weight
        return self.limits.weight * (1 - self.limits.reserve)

    def _fits(self, weight: float, priority: int) -> bool:
        self._expire(self.now())
        # a request heavier than the whole cap still goes once the window is empty
        return self._used + weight <= self._cap(priority) or self._used == 0

    def _spend(self, weight: float) -> None:
        self._spent.append((self.now(), weight))
        self._used += weight

    def _expire(self, now: float) -> None:
        while self._spent and now - self._spent[0][0] >= self.limits.window:
            self._used -= self._spent.popleft()[1]
        if not self._spent:
            self._used = 0.0

    def _serve(self) -> None:
        """Start waiters in priority order while they fit; else wake when the oldest expires."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._waiting:
            priority, _, weight, future = self._waiting[0]
            if future.done():  # cancelled while waiting
                heapq.heappop(self._waiting)
                continue
            if not self._fits(weight, priority):
                break
            heapq.heappop(self._waiting)
            self._spend(weight)
            future.set_result(None)
        if self._waiting and self._spent:
            delay = max(0.0, self._spent[0][0] + self.limits.window - self.now())
            self._timer = asyncio.get_running_loop().call_later(delay + 1e-3, self._serve)


def documented_cost(limits: VenueLimits, ccxt_cost: Callable[..., Any]) -> Callable[..., Any]:
    """ccxt's `calculate_rate_limiter_cost`, raised to the venue's documented weight where
    ccxt's table undercounts an endpoint or a request body (never lowered)."""

    def cost(api: Any, method: Any, path: Any, params: Any, config: Any = None) -> Any:
        found = ccxt_cost(api, method, path, params, config or {})
        documented = limits.weights.get(str(path))
        if documented is None and limits.body_weight is not None and isinstance(params, Mapping):
            documented = limits.body_weight(str(path), params)
        return found if documented is None else max(float(found), documented)

    return cost
