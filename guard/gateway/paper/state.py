"""The paper venue's whole mutable state as JSON-ready data and back (Decimals as strings); pure.
Invariant: restoring a saved state into a venue of the same markets and path rebuilds its book."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from guard.core.domain import (
    MarginMode,
    OrderResult,
    OrderSide,
    OrderStatus,
    PositionKey,
    Side,
    require_utc,
)
from guard.core.funding_ledger import FundingPayment
from guard.gateway.paper.book import Fill, LiquidationEvent, PaperAccount, PaperPosition
from guard.gateway.paper.venue import PaperVenue


def _result_json(result: OrderResult) -> dict[str, Any]:
    return {
        "client_order_id": result.client_order_id,
        "status": result.status.value,
        "filled_quantity": str(result.filled_quantity),
        "average_price": None if result.average_price is None else str(result.average_price),
        "fee": str(result.fee),
        "venue_order_id": result.venue_order_id,
        "message": result.message,
    }


def _result_from(data: Mapping[str, Any]) -> OrderResult:
    price = data["average_price"]
    return OrderResult(
        data["client_order_id"],
        OrderStatus(data["status"]),
        Decimal(data["filled_quantity"]),
        None if price is None else Decimal(price),
        Decimal(data["fee"]),
        data["venue_order_id"],
        data["message"],
    )


_ACCOUNT_DECIMALS = (
    "wallet",
    "funding_paid",
    "fees_paid",
    "slippage_paid",
    "realized_pnl",
    "shortfall_absorbed",
    "starting_collateral",
)


def paper_state(venue: PaperVenue) -> dict[str, Any]:
    """The venue's whole mutable state as JSON-ready data (Decimals as strings)."""
    accounts: dict[str, Any] = {}
    for name, acct in venue.accounts.items():
        accounts[name] = {
            **{attr: str(getattr(acct, attr)) for attr in _ACCOUNT_DECIMALS},
            "reduce_only_required": acct.reduce_only_required,
            "min_equity": None if acct.min_equity is None else str(acct.min_equity),
            "positions": [
                {
                    "symbol": p.symbol,
                    "side": p.side.value,
                    "quantity": str(p.quantity),
                    "entry_price": str(p.entry_price),
                    "margin_mode": p.margin_mode.value,
                    "leverage": str(p.leverage),
                    "isolated_margin": str(p.isolated_margin),
                    "funding_paid": str(p.funding_paid),
                }
                for p in acct.positions.values()
            ],
            "orders": [_result_json(r) for r in acct.orders.values()],
            "fills": [
                {
                    "at": f.at.isoformat(),
                    "client_order_id": f.client_order_id,
                    "symbol": f.symbol,
                    "side": f.side.value,
                    "quantity": str(f.quantity),
                    "price": str(f.price),
                    "fee": str(f.fee),
                    "realized_pnl": str(f.realized_pnl),
                }
                for f in acct.fills
            ],
            "funding": [
                {
                    "at": f.at.isoformat(),
                    "symbol": f.symbol,
                    "side": f.side.value,
                    "amount": str(f.amount),
                    "quantity": str(f.quantity),
                    "price": str(f.price),
                    "rate": str(f.rate),
                }
                for f in acct.funding_ledger
            ],
            "liquidations": [
                {
                    "at": e.at.isoformat(),
                    "keys": [[k.symbol, k.side.value] for k in e.keys],
                    "pool": e.pool,
                    "equity": str(e.equity),
                    "maintenance": str(e.maintenance),
                    "loss": str(e.loss),
                }
                for e in acct.liquidations
            ],
        }
    return {"now": venue.now.isoformat(), "accounts": accounts}


def restore_paper_state(venue: PaperVenue, data: Mapping[str, Any]) -> None:
    """Put a state saved by `paper_state` back into `venue` (same markets and path)."""
    venue.now = require_utc(datetime.fromisoformat(data["now"]), "paper state now")
    venue.accounts = {}
    for name, raw in data["accounts"].items():
        acct = PaperAccount(name, Decimal(raw["wallet"]), raw["reduce_only_required"])
        for attr in _ACCOUNT_DECIMALS:
            setattr(acct, attr, Decimal(raw[attr]))
        acct.min_equity = None if raw["min_equity"] is None else Decimal(raw["min_equity"])
        for p in raw["positions"]:
            position = PaperPosition(
                p["symbol"],
                Side(p["side"]),
                Decimal(p["quantity"]),
                Decimal(p["entry_price"]),
                MarginMode(p["margin_mode"]),
                Decimal(p["leverage"]),
                Decimal(p["isolated_margin"]),
                Decimal(p["funding_paid"]),
            )
            acct.positions[PositionKey(position.symbol, position.side)] = position
        acct.orders = {o["client_order_id"]: _result_from(o) for o in raw["orders"]}
        acct.fills = [
            Fill(
                datetime.fromisoformat(f["at"]),
                name,
                f["client_order_id"],
                f["symbol"],
                OrderSide(f["side"]),
                Decimal(f["quantity"]),
                Decimal(f["price"]),
                Decimal(f["fee"]),
                Decimal(f["realized_pnl"]),
            )
            for f in raw["fills"]
        ]
        acct.funding_ledger = [  # a state saved before the ledger existed has none
            FundingPayment(
                datetime.fromisoformat(f["at"]),
                f["symbol"],
                Side(f["side"]),
                Decimal(f["amount"]),
                Decimal(f["quantity"]),
                Decimal(f["price"]),
                Decimal(f["rate"]),
            )
            for f in raw.get("funding", ())
        ]
        acct.liquidations = [
            LiquidationEvent(
                datetime.fromisoformat(e["at"]),
                name,
                tuple(PositionKey(symbol, Side(side)) for symbol, side in e["keys"]),
                e["pool"],
                Decimal(e["equity"]),
                Decimal(e["maintenance"]),
                Decimal(e["loss"]),
            )
            for e in raw["liquidations"]
        ]
        venue.accounts[name] = acct
