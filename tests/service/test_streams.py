"""Stream wake-ups end to end over the venue lab (Binance USDⓈ-M and Hyperliquid through
ccxt.pro): a price move on the lab's path wakes a full tick long before any poll and the lab
accepts its order; a dropped stream falls back to polling, alerts once and recovers; a flood of
updates leaves at most one pending tick per account; the stream never sizes an order."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from decimal import Decimal

import pytest

from guard.core.wake import StreamUpdate
from guard.gateway.ccxt.streams import StreamSettings, StreamState
from guard.lab.venue_lab import VenueLab
from guard.lab.venue_lab.stream_drive import price_ladder, stream_rig
from guard.service.notify import Notifier
from guard.service.streams import TickCoalescer
from guard.store import Store
from tests.venue_lab import ACCOUNTS

FAST = StreamSettings(
    silence=timedelta(seconds=30),
    staleness=timedelta(minutes=2),
    backoff_base=0.05,
    backoff_max=0.2,
)
BOOK = "BTC/USDT:USDT"  # the lab book's symbol (each venue names it its own way)


def _advance_until_below(lab: VenueLab, symbol: str, price: Decimal) -> None:
    step = timedelta(seconds=30)
    while lab.book.mark(symbol) >= price:
        if lab.book.now() >= lab.book.paper.path.end:
            raise AssertionError(f"{symbol} never fell below {price}")
        lab.book.advance_to(lab.book.now() + step)


async def _until(condition: object, timeout: float) -> float:
    began = time.monotonic()
    while not condition():  # type: ignore[operator]
        if time.monotonic() - began > timeout:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)
    return time.monotonic() - began


@pytest.mark.parametrize("name", ["binance", "hyperliquid"])
async def test_price_move_when_streamed_then_full_tick_woken_before_poll_and_order_accepted(
    venue_lab: VenueLab, sqlite_store: Store, name: str
) -> None:
    lab, chosen = venue_lab, ACCOUNTS[name]
    symbol = BOOK
    trigger = (lab.book.mark(symbol) * Decimal("0.97")).quantize(Decimal(1))
    rig = await stream_rig(
        lab,
        chosen.venue,
        {chosen.account: chosen.credentials},
        price_ladder("BTC/*", trigger),
        sqlite_store,
        FAST,
    )
    try:
        first = await rig.tick(chosen.account)  # the first poll: facts for the pre-check
        assert first.error is None and not (first.plan and first.plan.orders)
        await _until(lambda: rig.state is StreamState.CONNECTED, 5)
        before = len(lab.book.all_orders(chosen.venue, chosen.account))
        _advance_until_below(lab, symbol, trigger)
        waited = await _until(
            lambda: len(lab.book.all_orders(chosen.venue, chosen.account)) > before, 5
        )
    finally:
        await rig.close()
    assert rig.woken_ticks >= 1
    assert waited < 2.0  # a 5 s poll would not have ticked yet; no poll ran at all here
    order = lab.book.all_orders(chosen.venue, chosen.account)[-1]
    assert order.reduce_only and order.filled > 0 and order.symbol.startswith("BTC/")


async def test_stream_when_dropped_then_falls_back_alerts_once_and_recovers(
    venue_lab: VenueLab, sqlite_store: Store
) -> None:
    lab, chosen = venue_lab, ACCOUNTS["hyperliquid"]
    notifier = Notifier()
    rig = await stream_rig(
        lab,
        "hyperliquid",
        {chosen.account: chosen.credentials},
        price_ladder("BTC/*", Decimal(1000)),
        sqlite_store,
        FAST,
        notifier=notifier,
    )
    try:
        await rig.tick(chosen.account)
        await _until(lambda: rig.state is StreamState.CONNECTED, 5)
        lab.streams.silenced.add("hyperliquid")
        assert await lab.streams.drop("hyperliquid") >= 1
        await _until(lambda: rig.state.fallback, 5)
        await _until(lambda: any("stream" in a.title for a in notifier.sent), 2)
        await lab.streams.drop("hyperliquid")  # dropped again while falling back: no new alert
        await asyncio.sleep(0.3)
        # polling still protects: a full tick reads the venue while the stream is down
        assert (await rig.tick(chosen.account)).error is None
        lab.streams.silenced.discard("hyperliquid")
        lab.book.advance_to(lab.book.now() + timedelta(seconds=30))
        await _until(lambda: rig.state is StreamState.CONNECTED, 5)
    finally:
        await rig.close()
    alerts = [a for a in notifier.sent if "stream" in a.title]
    assert len(alerts) == 1 and "polling alone protects" in alerts[0].title
    assert rig.streams is not None and rig.streams.reconnects >= 1


async def test_stream_when_silent_past_bound_then_stale_fallback_then_recovers_on_messages(
    venue_lab: VenueLab, sqlite_store: Store
) -> None:
    lab, chosen = venue_lab, ACCOUNTS["binance"]
    notifier = Notifier()
    settings = StreamSettings(silence=timedelta(seconds=30), backoff_base=0.05, backoff_max=0.2)
    rig = await stream_rig(
        lab,
        "binance",
        {chosen.account: chosen.credentials},
        price_ladder("BTC/*", Decimal(1000)),
        sqlite_store,
        settings,
        notifier=notifier,
    )
    try:
        await rig.tick(chosen.account)
        await _until(lambda: rig.state is StreamState.CONNECTED, 5)
        lab.streams.silenced.add("binance")  # sockets stay open, nothing is sent
        lab.book.advance_to(lab.book.now() + timedelta(minutes=1))  # past the silence bound
        await _until(lambda: rig.state is StreamState.STALE, 5)
        assert rig.streams is not None and rig.streams.reconnects == 0  # silent, not dropped
        lab.streams.silenced.discard("binance")
        lab.book.advance_to(lab.book.now() + timedelta(seconds=1))
        await _until(lambda: rig.state is StreamState.CONNECTED, 5)
    finally:
        await rig.close()
    alerts = [a for a in notifier.sent if "stream" in a.title]
    assert len(alerts) == 1 and "stale" in alerts[0].title


async def test_flood_when_updates_burst_during_a_tick_then_at_most_one_pending_tick() -> None:
    started: list[str] = []
    release = asyncio.Event()

    async def tick(name: str) -> None:
        started.append(name)
        await release.wait()

    coalescer = TickCoalescer(tick)
    coalescer.wake("a")
    coalescer.wake("b")
    await asyncio.sleep(0.01)  # both ticks running now
    for _ in range(1000):
        coalescer.wake("a")
        coalescer.wake("b")
    await asyncio.sleep(0.01)
    assert started == ["a", "b"] and coalescer.pending == {"a", "b"}
    release.set()
    await _until(lambda: not coalescer.tasks, 2)
    assert sorted(started) == ["a", "a", "b", "b"]  # the running tick + one follow-up each


async def test_follow_up_when_other_accounts_first_ticks_run_then_it_waits_for_them() -> None:
    started: list[str] = []
    release = {"a": asyncio.Event(), "b": asyncio.Event()}

    async def tick(name: str) -> None:
        started.append(name)
        await release[name].wait()

    coalescer = TickCoalescer(tick, defer_max=5.0)
    coalescer.wake("a")
    coalescer.wake("b")
    await asyncio.sleep(0.01)
    coalescer.wake("a")  # e.g. a's own fill, while its first tick runs: one pending
    release["a"].set()
    await asyncio.sleep(0.05)
    assert started == ["a", "b"]  # b has not acted yet: a's re-check waits
    release["b"].set()
    await _until(lambda: not coalescer.tasks, 2)
    assert started == ["a", "b", "a"] and coalescer.deferred == 1


async def test_follow_up_when_another_first_tick_hangs_then_it_runs_after_defer_max() -> None:
    started: list[str] = []
    hang, first_a = asyncio.Event(), asyncio.Event()

    async def tick(name: str) -> None:
        started.append(name)
        if name == "b":
            await hang.wait()
        elif started.count("a") == 1:
            await first_a.wait()

    coalescer = TickCoalescer(tick, defer_max=0.05)
    coalescer.wake("b")
    coalescer.wake("a")
    await asyncio.sleep(0.01)
    coalescer.wake("a")  # pending while a's first tick runs
    first_a.set()
    await _until(lambda: started.count("a") == 2, 2)  # b hangs: a is not held back for ever
    assert coalescer.deferred == 1
    hang.set()
    await _until(lambda: not coalescer.tasks, 2)


async def test_order_when_stream_says_size_10_and_venue_says_1_then_order_at_most_1(
    venue_lab: VenueLab, sqlite_store: Store
) -> None:
    lab, chosen = venue_lab, ACCOUNTS["binance"]
    symbol = BOOK
    trigger = (lab.book.mark(symbol) * Decimal("0.97")).quantize(Decimal(1))
    rig = await stream_rig(
        lab,
        "binance",
        {chosen.account: chosen.credentials},
        price_ladder("BTC/*", trigger, reduce="100%"),
        sqlite_store,
        FAST,
    )
    try:
        await rig.tick(chosen.account)
        venue_size = next(
            p.quantity
            for p in rig.service.accounts[chosen.account].previous.positions  # type: ignore[union-attr]
            if p.symbol == symbol
        )
        _advance_until_below(lab, symbol, trigger)
        # a stream message claiming a position ten times the venue's wakes the tick ...
        rig.waker.updates_for("binance@lab")(
            StreamUpdate(symbol, lab.book.now(), account=chosen.account, quantity=venue_size * 10)
        )
        await _until(lambda: rig.woken_ticks >= 1 and not rig.coalescer.tasks, 5)
    finally:
        await rig.close()
    orders = [o for o in lab.book.all_orders("binance", chosen.account) if o.symbol == symbol]
    assert orders and sum(o.quantity for o in orders) <= venue_size  # ... the venue's truth sizes


async def test_mark_subscription_when_never_served_while_user_streams_talk_then_stale_alert_resubscribe(
    venue_lab: VenueLab, sqlite_store: Store
) -> None:
    """docs/streams.md's open question: a move while connections were still opening woke
    nothing; the user streams kept the venue `connected` while the shared mark subscription
    never delivered. Now that subscription's own silence falls back, alerts and resubscribes."""
    lab, chosen = venue_lab, ACCOUNTS["binance"]
    notifier = Notifier()
    lab.streams.unserved_marks = True  # SUBSCRIBE answered, no mark price ever pushed
    rig = await stream_rig(
        lab,
        "binance",
        {chosen.account: chosen.credentials},
        price_ladder("BTC/*", Decimal(1000)),
        sqlite_store,
        FAST,
        notifier=notifier,
    )
    try:
        await rig.tick(chosen.account)
        await _until(lambda: rig.state is StreamState.CONNECTED, 5)  # the user stream talks
        # the mark subscription reached the lab (SUBSCRIBE answered), then nothing comes
        await _until(lambda: any(s.subscriptions for s in lab.streams.open), 5)
        lab.book.advance_to(lab.book.now() + timedelta(minutes=1))  # past the silence bound
        await _until(lambda: rig.state is StreamState.STALE, 5)
        streams = rig.streams
        assert streams is not None
        await _until(lambda: streams.resubscribes >= 1, 5)  # a new connection, subscribed again
        await asyncio.sleep(0.3)  # user messages meanwhile do not make it connected again
        assert rig.state is StreamState.STALE
        lab.streams.unserved_marks = False
        await _until(lambda: rig.state is StreamState.CONNECTED, 5)
    finally:
        await rig.close()
    alerts = [a for a in notifier.sent if "stream" in a.title]
    assert len(alerts) == 1 and "mark prices" in alerts[0].body
