"""A paper account's snapshot written as the snapshot file `guard inspect` and `guard evaluate`
read: ccxt's unified structures (positions, balance, markets, funding_rates), the inverse of
guard/gateway/parsers/paper.py. Pure: no I/O; reading the file back gives the same account."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from guard.core.domain import AccountSnapshot, MarginMode, MarketSpec, Position
from guard.gateway.parsers.venue import cross_pnl, isolated_margins


def unified_snapshot(snapshot: AccountSnapshot) -> dict[str, Any]:
    """`snapshot` as ccxt unified dicts (Decimals kept: the caller writes them as text)."""
    total = snapshot.balance.wallet_balance + cross_pnl(snapshot.positions)
    total += isolated_margins(snapshot.positions)
    return {
        "venue": snapshot.venue,
        "account": snapshot.account,
        "taken_at": snapshot.taken_at.isoformat(),
        "positions": [_position(p, snapshot.markets.get(p.symbol)) for p in snapshot.positions],
        "balance": {snapshot.balance.currency: {"total": total}},
        "markets": {s: _market(m) for s, m in sorted(snapshot.markets.items())},
        "funding_rates": {
            symbol: {
                "symbol": symbol,
                "markPrice": data.mark_price,
                "indexPrice": data.index_price,
                "fundingRate": data.funding_rate,
                "nextFundingRate": data.predicted_funding_rate,
                "fundingTimestamp": (
                    int(data.next_funding_time.timestamp() * 1000)
                    if data.next_funding_time is not None
                    else None
                ),
                "interval": _interval(snapshot.markets[symbol].funding_interval)
                if symbol in snapshot.markets
                else None,
            }
            for symbol, data in sorted(snapshot.market_data.items())
        },
        "account_info": {"source": "guard paper venue"},
    }


def _position(p: Position, market: MarketSpec | None) -> dict[str, Any]:
    size = market.contract_size if market is not None else Decimal(1)
    row: dict[str, Any] = {
        "symbol": p.symbol,
        "side": p.side.value,
        "contracts": p.quantity / size,
        "contractSize": size,
        "entryPrice": p.entry_price,
        "markPrice": p.mark_price,
        "marginMode": p.margin_mode.value,
        "leverage": p.leverage,
        "liquidationPrice": p.venue_liquidation_price,
        "hedged": p.hedged,
    }
    if p.margin_mode is MarginMode.ISOLATED:  # the parser reads margin + uPnL as collateral
        row["collateral"] = (p.isolated_margin or Decimal(0)) + p.unrealized_pnl
    return row


def _market(m: MarketSpec) -> dict[str, Any]:
    size = m.contract_size
    return {
        "symbol": m.symbol,
        "base": m.base,
        "quote": m.quote,
        "contractSize": size,
        "precision": {"amount": m.amount_step / size, "price": m.price_tick},
        "limits": {
            "amount": {
                "min": m.min_amount / size,
                "max": None if m.max_order_amount is None else m.max_order_amount / size,
            },
            "cost": {"min": m.min_notional, "max": m.max_order_notional},
        },
        "taker": m.taker_fee_rate,
    }


def _interval(interval: timedelta) -> str:
    minutes = int(interval.total_seconds() // 60)
    return f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}m"
