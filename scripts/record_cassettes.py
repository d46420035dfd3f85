#!/usr/bin/env python
"""Record tests/gateway/cassettes/*.yaml from the venue lab through the guard's real ccxt clients.

For each venue case (tests/gateway/cases.py) a venue lab (guard/lab/venue_lab) is started on
127.0.0.1:PORT over the crash scenario with that case's one position seeded, at the scenario's
first minute; vcrpy records what the gateway's ccxt client sends and what the lab answers. Every
answer therefore passed the lab's venue rules (ticks, steps, reduce-only, client ids, signatures),
and the script fails if the lab rejected anything it was not meant to. Nothing leaves 127.0.0.1.

Usage: PYTHONPATH=. .venv/bin/python scripts/record_cassettes.py [venue ...]
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from decimal import Decimal  # noqa: E402

from guard.core.domain import OrderSide, Side  # noqa: E402
from guard.gateway.base import OrderRejected  # noqa: E402
from guard.gateway.ccxt import CcxtGateway  # noqa: E402
from guard.gateway.paper.scenarios import SeedPosition, crash  # noqa: E402
from guard.lab.venue_lab import LabAccount, VenueLab, build_lab  # noqa: E402
from tests.gateway.cases import (  # noqa: E402
    CANARY_KEY,
    CANARY_PASSWORD,
    CANARY_SECRET,
    CASES,
    CASSETTES,
    DYDX_WALLET,
    ENV,
    HL_WALLET,
    PORT,
    RECORDED_AT,
    VenueCase,
    settings,
)
from tests.gateway.vcr_config import make_vcr  # noqa: E402


def lab_for(case: VenueCase) -> VenueLab:
    """A lab serving `case.venue` only, its one account holding `case.seed`."""
    scenario = crash()
    seed = case.seed
    scenario = replace(
        scenario,
        collateral=case.collateral,
        positions=(
            SeedPosition(
                f"{case.symbol.split('/')[0]}/USDT:USDT",  # the lab's paper symbol
                case.position_side,
                seed.quantity,
                seed.entry_price,
                seed.leverage,
                case.margin_mode,
            ),
        ),
    )
    wallet = {"hyperliquid": HL_WALLET, "dydx": DYDX_WALLET}.get(case.venue)
    account = LabAccount(
        case.venue,
        wallet or CANARY_KEY,
        case.account,
        secret=None if wallet else CANARY_SECRET,  # HMAC venues: the lab checks signatures
        passphrase=CANARY_PASSWORD if case.venue == "okx" else None,
        hedge_mode=case.hedged,
    )
    lab = build_lab(scenario, [account], venues=[case.venue], budgets={}, port=PORT)
    lab.book.advance_to(RECORDED_AT)
    return lab


# an operator's own resting take-profit (placed in the lab's book before recording, so the
# replay sees an open order the guard did not place); Hyperliquid's has no cloid
OPERATOR_ORDER = {"binance": "web_tp_81c2", "bybit": "web-tp-3c1f", "okx": "webtp77a1"}
OPERATOR_PRICE = {"binance": 61000, "bybit": 2900, "okx": 61000, "hyperliquid": 145}


async def operator_order(lab: VenueLab, case: VenueCase) -> None:
    if case.venue not in OPERATOR_PRICE:
        return  # dYdX: short-term orders never rest
    (account,) = lab.book.accounts
    symbol = f"{case.symbol.split('/')[0]}/USDT:USDT"
    spec = lab.book.paper.markets[symbol]
    closing = OrderSide.SELL if case.position_side is Side.LONG else OrderSide.BUY
    await lab.book.execute(
        case.venue,
        account,
        client_id=OPERATOR_ORDER.get(case.venue, ""),
        symbol=symbol,
        side=closing,
        quantity=case.seed.quantity / 2 // spec.amount_step * spec.amount_step,
        price=Decimal(OPERATOR_PRICE[case.venue]),
        order_type="limit",
        time_in_force="GTC",
        reduce_only=not case.hedged,
        position_side=case.position_side.value.upper() if case.hedged else "BOTH",
        step=spec.amount_step,
    )


def gateway(lab: VenueLab, case: VenueCase) -> CcxtGateway:
    return CcxtGateway(
        case.venue,
        [case.config()],
        settings=settings(case.venue),
        environ=ENV,
        clock=lab.book.now,
    )


async def record(case: VenueCase) -> None:
    plan = case.plan()
    for kind in ("snapshot", "order", "rejected"):
        if kind == "rejected" and case.venue != "binance":
            continue
        path = CASSETTES / f"{case.venue}_{kind}.yaml"
        path.unlink(missing_ok=True)
        lab = lab_for(case)
        await lab.start()
        found = gateway(lab, case)
        try:
            with make_vcr("all").use_cassette(str(path)):
                if kind == "snapshot":
                    await found.raw_snapshot(case.account)
                elif kind == "order":
                    await operator_order(lab, case)
                    await found.fetch_snapshot(case.account)
                    await found.create_order(plan)
                    await found.fetch_order(case.account, case.symbol, plan.client_order_id)
                    await found.fetch_open_orders(case.account)
                    await found.cancel_order(case.account, case.symbol, plan.client_order_id)
                else:  # the position is closed elsewhere after the snapshot: -2022
                    await found.fetch_snapshot(case.account)
                    lab.book.paper.accounts[case.account].positions.clear()
                    try:
                        await found.create_order(plan)
                    except OrderRejected as error:
                        print(f"{case.venue} rejected as recorded: {error}")
                    else:
                        raise SystemExit(f"{case.venue}: the lab accepted the rejected case")
        finally:
            await found.close()
            await lab.stop()
        # cancelling the filled order is answered "unknown order" (as the venue does): expected
        refused = [r for r in lab.rejections if r.operation != "cancel_order"]
        if len(refused) != (1 if kind == "rejected" else 0):
            raise SystemExit(f"{path.name}: lab rejections {lab.rejections}")
        print(f"recorded {path.relative_to(ROOT)} ({len(lab.requests)} requests)")


async def main(venues: list[str]) -> None:
    for venue in venues or sorted(CASES):
        await record(CASES[venue])


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
