"""Message bodies of the venue lab's streams: Binance user-data events (ORDER_TRADE_UPDATE,
ACCOUNT_UPDATE) and Hyperliquid channel messages, built from the shared book. Pure reads of
the book; formats as in the venues' websocket docs (see streams.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from guard.core.domain import MarginMode, OrderStatus
from guard.lab.venue_lab.book import LabBook
from guard.lab.venue_lab.views import account_view, fmt


def binance_user_events(book: LabBook, paper_account: str) -> list[Any]:
    """The latest order's ORDER_TRADE_UPDATE (when there is one) and an ACCOUNT_UPDATE."""
    now = book.now_ms()
    events: list[Any] = []
    orders = book.all_orders("binance", paper_account)
    if orders:
        order = orders[-1]
        status = (
            "FILLED" if order.status is OrderStatus.FILLED else ("NEW" if order.open else "EXPIRED")
        )
        events.append(
            {
                "e": "ORDER_TRADE_UPDATE",
                "E": now,
                "T": now,
                "o": {
                    "s": order.symbol.split("/")[0] + "USDT",
                    "c": order.client_id,
                    "S": order.side.value.upper(),
                    "o": order.order_type.upper(),
                    "f": order.time_in_force,
                    "q": fmt(order.quantity),
                    "p": fmt(order.price or Decimal(0)),
                    "ap": fmt(order.average_price),
                    "x": "TRADE" if order.filled else "NEW",
                    "X": status,
                    "i": order.order_id,
                    "z": fmt(order.filled),
                    "T": now,
                    "R": order.reduce_only,
                    "ps": order.position_side,
                },
            }
        )
    view = account_view(book, paper_account)
    events.append(
        {
            "e": "ACCOUNT_UPDATE",
            "E": now,
            "T": now,
            "a": {
                "m": "ORDER" if orders else "FUNDING_FEE",
                "B": [
                    {"a": "USDT", "wb": fmt(view.wallet, 8), "cw": fmt(view.wallet, 8), "bc": "0"}
                ],
                "P": [
                    {
                        "s": p.spec.base + "USDT",
                        "pa": fmt(p.signed),
                        "ep": fmt(p.entry_price),
                        "cr": "0",
                        "up": fmt(p.upnl, 8),
                        "mt": "isolated" if p.margin_mode is MarginMode.ISOLATED else "cross",
                        "iw": fmt(p.isolated_margin, 8),
                        "ps": "BOTH",
                    }
                    for p in view.positions
                ],
            },
        }
    )
    return events


def _mids(book: LabBook) -> dict[str, str]:
    return {spec.base: fmt(book.mark(symbol)) for symbol, spec in book.paper.markets.items()}


def hyperliquid_messages(book: LabBook, subscriptions: list[Any]) -> list[Any]:
    messages: list[Any] = []
    for sub in subscriptions:
        kind = sub.get("type")
        if kind == "allMids":
            messages.append({"channel": "allMids", "data": {"mids": _mids(book)}})
        elif kind == "activeAssetCtx":
            coin = str(sub.get("coin"))
            symbol = next((s for s, m in book.paper.markets.items() if m.base == coin), None)
            if symbol is None:
                continue
            mark = fmt(book.mark(symbol))
            rate, _ = book.paper._funding_now(symbol)
            messages.append(
                {
                    "channel": "activeAssetCtx",
                    "data": {
                        "coin": coin,
                        "ctx": {
                            "funding": fmt(rate),
                            "openInterest": "1000",
                            "oraclePx": mark,
                            "markPx": mark,
                            "midPx": mark,
                            "prevDayPx": mark,
                            "dayNtlVlm": "0",
                        },
                    },
                }
            )
        elif kind in ("webData2", "clearinghouseState", "orderUpdates"):
            user = str(sub.get("user", ""))
            account = book.account("hyperliquid", user)
            if account is None:
                continue
            if kind == "orderUpdates":
                orders = book.all_orders("hyperliquid", account.paper)
                messages.append(
                    {
                        "channel": "orderUpdates",
                        "data": [
                            {
                                "order": {
                                    "coin": o.symbol.split("/")[0],
                                    "side": "A" if o.side.value == "sell" else "B",
                                    "limitPx": fmt(o.price),
                                    "sz": "0.0",
                                    "oid": o.order_id,
                                    "timestamp": int(o.created.timestamp() * 1000),
                                    "origSz": fmt(o.quantity),
                                    "cloid": o.client_id or None,
                                },
                                "status": "filled"
                                if o.status is OrderStatus.FILLED
                                else ("open" if o.open else "canceled"),
                                "statusTimestamp": int(o.updated.timestamp() * 1000),
                            }
                            for o in orders[-5:]
                        ],
                    }
                )
                continue
            view = account_view(book, account.paper)
            state = {
                "marginSummary": {"accountValue": fmt(view.equity)},
                "crossMaintenanceMarginUsed": fmt(view.cross_maintenance),
                "assetPositions": [
                    {
                        "type": "oneWay",
                        "position": {
                            "coin": p.spec.base,
                            "szi": fmt(p.signed),
                            "entryPx": fmt(p.entry_price),
                            "positionValue": fmt(p.notional),
                            "unrealizedPnl": fmt(p.upnl),
                        },
                    }
                    for p in view.positions
                ],
                "time": book.now_ms(),
            }
            data: dict[str, Any] = {"user": user, "clearinghouseState": state}
            if kind == "webData2":
                data["serverTime"] = book.now_ms()
            messages.append({"channel": kind, "data": data})
    return messages
