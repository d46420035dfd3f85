"""Private calls on the ticks that re-read the account mode, through the real ccxt gateway against
the venue lab: Bybit's mode tick stays at three calls (the held settle coin only); a position the
guard closed does not re-read the mode on the next (crash) tick, a position opening does."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

from guard.core.domain import MarginMode, OrderPlan, OrderSide, PositionKey, Side
from guard.core.venues.base import round_down
from guard.core.venues.registry import rules_for
from guard.gateway.ccxt import CcxtGateway
from guard.gateway.paper.scenarios import crash
from guard.lab.venue_lab import VenueLab
from guard.service.executor import Executor
from guard.store import Store
from tests.gateway.helpers import Sent, Wire
from tests.venue_lab import gateway

PAPER_BTC = "BTC/USDT:USDT"  # the book's name of the lab's BTC perp
HL_BTC = "BTC/USDC:USDC"  # Hyperliquid's (long 1.2)


def _advance(found: CcxtGateway, by: timedelta) -> None:
    """The gateway's clock `by` later (the lab's book stays where it is)."""
    now = found.clock()
    found.clock = lambda: now + by


def _bybit_call(sent: Sent) -> str:
    if sent.path.endswith("/v5/position/list"):
        return f"positions {sent.query.get('settleCoin')}"
    return sent.path.rsplit("/", 1)[1]


async def test_bybit_snapshot_when_mode_due_then_three_calls_with_the_held_settle_coin(
    venue_lab: VenueLab,
) -> None:
    found = gateway(venue_lab, "bybit")
    wire = Wire()
    wire.attach(found.client("by"))
    ticks = []
    try:
        for later in (timedelta(0), found.settings.account_mode_ttl, timedelta(seconds=5)):
            _advance(found, later)
            wire.sent.clear()
            snapshot = await found.fetch_snapshot("by")
            ticks.append(sorted(_bybit_call(s) for s in wire.sent))
    finally:
        await found.close()
    assert ticks == [
        ["info", "positions USDC", "positions USDT", "wallet-balance"],  # the first read
        ["info", "positions USDT", "wallet-balance"],  # mode due: the USDT positions held only
        ["positions USDC", "positions USDT", "wallet-balance"],
    ]
    assert snapshot.position(PositionKey(PAPER_BTC, Side.LONG)) is not None


def _hl_reads(wire: Wire) -> list[str]:
    return sorted(str(json.loads(s.body or "{}").get("type")) for s in wire.sent)


async def test_hyperliquid_snapshot_when_guard_closed_a_position_then_no_mode_read_until_one_opens(
    venue_lab: VenueLab, sqlite_store: Store
) -> None:
    found = gateway(venue_lab, "hyperliquid")
    wire = Wire()
    wire.attach(found.client("hl"))
    executor = Executor(sqlite_store, found, found.clock)
    try:
        snapshot = await found.fetch_snapshot("hl")
        held = snapshot.position(PositionKey(HL_BTC, Side.LONG))
        assert held is not None
        plan = OrderPlan(
            account="hl",
            symbol=HL_BTC,
            side=OrderSide.SELL,
            quantity=held.quantity,
            position_side=Side.LONG,
            margin_mode=MarginMode.CROSS,
            client_order_id=rules_for("hyperliquid").client_order_id("hl", HL_BTC, "b", "s0"),
            limit_price=round_down(
                held.mark_price * Decimal("0.95"), snapshot.markets[HL_BTC].price_tick
            ),
        )
        wire.sent.clear()
        await executor.execute("hl", [plan], tick_id="t", fingerprint="f", state=None)
        sent = [s for s in wire.sent if not s.path.endswith("/exchange")]
        assert venue_lab.book.signed_position("hl", PAPER_BTC) == 0
        _advance(found, timedelta(seconds=5))
        wire.sent.clear()
        await found.fetch_snapshot("hl")  # the next tick: BTC closed
        after_close = _hl_reads(wire)
        # the trader opens BTC again (the lab's orders only reduce: seeded on its book)
        seed = next(p for p in crash().positions if p.symbol == PAPER_BTC)
        seed.place(venue_lab.book.paper, "hl")
        _advance(found, timedelta(seconds=5))
        wire.sent.clear()
        await found.fetch_snapshot("hl")  # BTC open again: new to the cached keys
        after_open = _hl_reads(wire)
    finally:
        await found.close()
    assert sent == []  # the send went on the tick's fresh snapshot
    assert after_close == ["clearinghouseState"]
    assert after_open == ["clearinghouseState", "userAbstraction"]
