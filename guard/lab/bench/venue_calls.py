"""Venue calls per account per tick through the real ccxt gateways against the venue lab, N
accounts per venue gateway: steady state, the account-mode re-read tick, and crash ticks in which
every account also re-reads the position it reduces (the executor's re-read) and sends. Counts
requests, not time: each request ccxt builds (and signs) goes to the lab's venue module in process,
not over a socket, and its answer goes through ccxt's own error handling and parsing."""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from multidict import CIMultiDict

from guard.core.domain import AccountSnapshot, MarketSpec, OrderPlan, Position
from guard.core.venues.base import round_down
from guard.core.venues.ccxt_options import CcxtVenue
from guard.core.venues.registry import rules_for
from guard.gateway.base import GatewayError
from guard.gateway.ccxt import AccountConfig, CcxtGateway, Credentials, GatewaySettings
from guard.gateway.ccxt.budget import hyperliquid_weight
from guard.gateway.ccxt.clients import make_client
from guard.gateway.ccxt.private_reads import mode_age
from guard.gateway.paper.scenarios import crash
from guard.lab.venue_lab import LabAccount, VenueLab, build_lab, venue_portfolio
from guard.lab.venue_lab.server import Call, Rejected

VENUES = ("binance", "bybit", "okx", "hyperliquid", "dydx")
SECRET = "bench-secret-0123456789abcdef"
# one lab account per venue, shared by every bench account (the lab serves it by key / wallet)
CREDENTIALS: dict[str, dict[str, str]] = {
    "binance": {"apiKey": "bench-bn-key", "secret": SECRET},
    "bybit": {"apiKey": "bench-by-key", "secret": SECRET},
    "okx": {"apiKey": "bench-okx-key", "secret": SECRET, "password": "bench-pass"},
    "hyperliquid": {"walletAddress": "0x" + "cd" * 20, "privateKey": "0x" + "33" * 32},
    "dydx": {
        "walletAddress": "dydx14zzueazeh0hj67cghhf9jypslcf9sh2n5k6art",
        "privateKey": "44" * 32,
    },
}
CRASH_AT = timedelta(minutes=55)  # ten minutes into the cascade (45 min calm, then 90 min)
TICK = timedelta(seconds=5)
WORST = Decimal("0.95")  # a long's reduction: sell no lower than 5 % under the mark


@dataclass(frozen=True, slots=True)
class VenueCalls:
    """Requests per account per tick (private: the account's own client) and per tick for the
    whole venue (public: the shared client), in steady state, on the mode re-read tick and on
    crash ticks."""

    venue: str
    accounts: int
    steady_ticks: int
    steady_private: float  # per account per tick
    steady_public: float  # per venue per tick
    mode_private: float  # per account, the tick its account mode is re-read (after the ttl)
    crash_reads: float  # per account: snapshot + re-read, the send within `reread_fresh`
    crash_late_reads: float  # the same, the send later than `reread_fresh` after the snapshot
    crash_two_slices: float  # two slices: the second re-reads (HL: not after a stated fill)
    crash_writes: float  # per account: the reduction's requests (the order; dYdX adds its reads)
    crash_public: float  # per venue
    mode_ttl_s: float
    mode_share: float  # mean over the accounts of 1 / (ticks between two mode re-reads)
    # Hyperliquid: the documented weight (budget.hyperliquid_weight) of the private reads per
    # account per tick, steady and on the mode tick, and of the public reads per tick
    steady_weight: float = 0.0
    mode_weight: float = 0.0
    public_weight: float = 0.0

    @property
    def worst_tick(self) -> float:
        """The most private reads an account makes on one tick with at most one slice sent
        within `reread_fresh` of its snapshot (steady, mode re-read or crash)."""
        return max(self.steady_private, self.mode_private, self.crash_reads)

    @property
    def average(self) -> float:
        """Private reads per account per tick averaged over a mode period in steady state: the
        mode re-read tick's extra reads spread over the ticks between two re-reads."""
        return self.steady_private + (self.mode_private - self.steady_private) * self.mode_share


SENDING = contextvars.ContextVar("sending", default=False)  # inside create_order (per task)


class _Counter:
    def __init__(self, lab: VenueLab) -> None:
        self.lab = lab
        self.private = 0
        self.public = 0
        self.writes = 0
        self.weights = [0.0, 0.0]  # Hyperliquid documented weight: private reads, public

    def wrap(self, client: Any, private: bool) -> Any:
        """`client` with its transport replaced by the lab's venue module, every request
        counted (public: the venue's shared client; writes: anything sent for an order)."""

        async def fetch(
            url: str, method: str = "GET", headers: Any = None, body: Any = None
        ) -> Any:
            if not private:
                self.public += 1
                self.weights[1] += _weight(url, body)
            elif SENDING.get() or _is_write(url, method):
                self.writes += 1
            else:
                self.private += 1
                self.weights[0] += _weight(url, body)
            return await _serve(self.lab, client, url, method, headers, body)

        client.fetch = fetch
        return client

    def take(self) -> tuple[int, int, int]:
        found = (self.private, self.public, self.writes)
        self.private = self.public = self.writes = 0
        return found

    def take_weight(self) -> tuple[float, float]:
        found = (self.weights[0], self.weights[1])
        self.weights = [0.0, 0.0]
        return found


def _weight(url: str, body: Any) -> float:
    """A Hyperliquid request's documented weight (0 for other venues' requests)."""
    if "/hyperliquid/" not in url:
        return 0.0
    text = body.decode() if isinstance(body, bytes) else str(body or "{}")
    found = hyperliquid_weight(url.rstrip("/").rsplit("/", 1)[-1], json.loads(text))
    return found or 0.0


async def _serve(lab: VenueLab, client: Any, url: str, method: str, headers: Any, body: Any) -> Any:
    """What the lab's HTTP server does with one request (no faults, no rate limits), handed to
    ccxt's error handling as an HTTP answer would be."""
    parts = urlsplit(url)
    _, venue, key, *rest = parts.path.split("/", 3)
    text = body.decode() if isinstance(body, bytes) else str(body or "")
    call = Call(
        venue,
        key,
        method.upper(),
        "/" + (rest[0] if rest else ""),
        dict(parse_qsl(parts.query, keep_blank_values=True)),
        text,
        CIMultiDict(headers or {}),
        lab.book,
        parts.query,
        lab.rejections,
    )
    module = lab.modules[venue]
    module.operation(call)
    try:
        answer, status = await module.handle(call), 200
    except Rejected as rejected:
        answer, status = rejected.body, rejected.status
    raw = json.dumps(answer, default=str)
    parsed = json.loads(raw)
    client.last_http_response, client.last_json_response = raw, parsed
    client.last_response_headers = {}
    client.handle_errors(status, "", url, method, {}, raw, parsed, headers, text)
    client.handle_http_status_code(status, "", url, method, raw)
    return parsed


def _is_write(url: str, method: str) -> bool:
    if url.endswith("/info"):  # Hyperliquid reads are POSTs to /info
        return False
    return "broadcast_tx" in url or method.upper() in ("POST", "PUT", "DELETE")


def _lab() -> VenueLab:
    accounts = [
        LabAccount(
            venue,
            found.get("apiKey") or found["walletAddress"],
            f"bench-{venue}",
            secret=found.get("secret"),
            passphrase=found.get("password"),
        )
        for venue, found in CREDENTIALS.items()
    ]
    return build_lab(crash(), accounts, budgets={}, port=1)  # never started: no socket


def _gateway(lab: VenueLab, venue: str, accounts: int, counter: _Counter) -> CcxtGateway:
    env = {f"BENCH_{k.upper()}": v for k, v in CREDENTIALS[venue].items()}
    credentials = Credentials(env={k: f"BENCH_{k.upper()}" for k in CREDENTIALS[venue]})
    configs = [AccountConfig(f"{venue}-{i}", venue, credentials) for i in range(accounts)]
    settings = GatewaySettings(api_base=lab.base_url(venue), ccxt_rate_limit=False)

    def factory(spec: CcxtVenue, secrets: Mapping[str, str] | None) -> Any:
        return counter.wrap(make_client(spec, secrets, settings), secrets is not None)

    return CcxtGateway(
        venue, configs, settings=settings, environ=env, clock=lab.book.now, client_factory=factory
    )


async def _tick(gateway: CcxtGateway, lab: VenueLab) -> dict[str, AccountSnapshot]:
    names = list(gateway.accounts)
    lab.book.advance_to(lab.book.now() + TICK)
    taken = await asyncio.gather(*(gateway.fetch_snapshot(a) for a in names))
    return dict(zip(names, taken, strict=True))


async def _reduce(
    gateway: CcxtGateway,
    account: str,
    position: Position,
    spec: MarketSpec,
    name: str = "s0",
) -> None:
    """What the executor does per slice: re-read the one position (no call while the tick's
    snapshot is fresh and nothing was sent since), then send the reduction (one step, market
    with a worst acceptable price 5 % through the mark). A refusal (the shared lab position
    reduced to nothing by the other accounts) is counted like any answer."""
    await gateway.fetch_position(account, position.symbol)
    venue = gateway.venue
    plan = OrderPlan(
        account=account,
        symbol=position.symbol,
        side=position.side.closing_order_side,
        quantity=max(spec.amount_step, spec.min_amount),
        position_side=position.side,
        margin_mode=position.margin_mode,
        client_order_id=rules_for(venue).client_order_id(account, position.symbol, "bench", name),
        limit_price=round_down(position.mark_price * WORST, spec.price_tick),
    )
    token = SENDING.set(True)  # the order's own requests (dYdX: block height, account sequence)
    try:
        await gateway.create_order(plan)
    except GatewayError:
        pass
    finally:
        SENDING.reset(token)


async def _slices(
    gateway: CcxtGateway, account: str, position: Position, spec: MarketSpec, count: int
) -> None:
    for i in range(count):
        await _reduce(gateway, account, position, spec, f"s{i}")


async def measure_venue(venue: str, accounts: int, steady_ticks: int = 2) -> VenueCalls:
    """Counts for `accounts` accounts of `venue`: the first tick (markets, tables, account
    modes: first reads) is not counted; then `steady_ticks` ticks 5 s apart; then the clock
    jumps into the crash's cascade (past `account_mode_ttl`: the tick that re-reads the modes);
    then three crash ticks, in each every account reduces its largest position: one slice sent
    right after the snapshot; one slice sent later than `reread_fresh` after it; two slices."""
    lab = _lab()
    counter = _Counter(lab)
    gateway = _gateway(lab, venue, accounts, counter)
    names = list(gateway.accounts)
    try:
        await _tick(gateway, lab)
        counter.take()
        counter.take_weight()
        for _ in range(steady_ticks):
            await _tick(gateway, lab)
        private, public, _ = counter.take()
        steady_weight, public_weight = counter.take_weight()
        ttl = gateway.settings.account_mode_ttl
        lab.book.advance_to(max(lab.book.now() + ttl, crash().start + CRASH_AT))
        snapshot = (await _tick(gateway, lab))[f"{venue}-0"]
        mode_private, _, _ = counter.take()
        mode_weight, _ = counter.take_weight()
        position = max(snapshot.positions, key=lambda p: p.quantity * p.mark_price)
        spec = snapshot.markets[position.symbol]
        crash_ticks: list[tuple[int, int, int]] = []
        for late, count in ((False, 1), (True, 1), (False, 2)):
            _reseed(lab, venue, position)
            await _tick(gateway, lab)
            if late:
                lab.book.advance_to(
                    lab.book.now() + gateway.settings.reread_fresh + timedelta(milliseconds=1)
                )
            await asyncio.gather(*(_slices(gateway, a, position, spec, count) for a in names))
            crash_ticks.append(counter.take())
    finally:
        await gateway.close()
    (crash_reads, crash_public, crash_writes), late_tick, two_tick = crash_ticks
    share = sum(1 / math.ceil(mode_age(a, gateway.settings) / TICK) for a in names) / len(names)
    return VenueCalls(
        venue=venue,
        accounts=accounts,
        steady_ticks=steady_ticks,
        steady_private=private / accounts / steady_ticks,
        steady_public=public / steady_ticks,
        mode_private=mode_private / accounts,
        crash_reads=crash_reads / accounts,
        crash_late_reads=late_tick[0] / accounts,
        crash_two_slices=two_tick[0] / accounts,
        crash_writes=crash_writes / accounts,
        crash_public=float(crash_public),
        mode_ttl_s=ttl.total_seconds(),
        mode_share=share,
        steady_weight=steady_weight / accounts / steady_ticks,
        mode_weight=mode_weight / accounts,
        public_weight=public_weight / steady_ticks,
    )


def _reseed(lab: VenueLab, venue: str, position: Position) -> None:
    """The lab account's reduced position set back to the scenario's (every bench account of a
    venue shares it: without this, the crash ticks' reductions close it and later ticks would
    send nothing)."""
    base = position.symbol.split("/")[0]
    owner = next(a for a in lab.book.accounts if a.venue == venue)
    for seed in venue_portfolio(crash(), owner).positions:
        if seed.symbol.split("/")[0] == base:
            seed.place(lab.book.paper, owner.paper)


def measure_venue_calls(counts: tuple[int, ...], steady_ticks: int = 2) -> list[VenueCalls]:
    """Every venue at every account count (ccxt's and the lab's logs quietened)."""
    quiet = [logging.getLogger(n) for n in ("guard.gateway.ccxt", "guard.lab.venue_lab")]
    levels = [q.level for q in quiet]
    for q in quiet:
        q.setLevel(logging.ERROR)
    try:
        return [
            asyncio.run(measure_venue(venue, n, steady_ticks)) for venue in VENUES for n in counts
        ]
    finally:
        for q, level in zip(quiet, levels, strict=True):
            q.setLevel(level)
