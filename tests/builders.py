"""Plain-value builders for tests of the pure core."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from guard.core.domain import (
    AccountSnapshot,
    Balance,
    MarginMode,
    MarketData,
    MarketSpec,
    Position,
    Side,
    frozen_map,
)
from guard.core.venues.paper import DEFAULT_TIERS

T0 = datetime(2024, 8, 5, tzinfo=UTC)
D = Decimal


def spec(
    symbol: str = "BTC/USDT:USDT", step: str = "0.001", tick: str = "0.1", **kw: object
) -> MarketSpec:
    base = symbol.split("/")[0]
    fields: dict[str, object] = {
        "symbol": symbol,
        "base": base,
        "quote": "USDT",
        "amount_step": D(step),
        "price_tick": D(tick),
        "min_amount": D(step),
        "tiers": DEFAULT_TIERS,
        "funding_interval": timedelta(hours=8),
    }
    fields.update(kw)
    return MarketSpec(**fields)  # type: ignore[arg-type]


def position(
    symbol: str = "BTC/USDT:USDT",
    side: Side = Side.LONG,
    quantity: str = "1",
    entry: str = "60000",
    mark: str | None = None,
    mode: MarginMode = MarginMode.CROSS,
    leverage: str = "10",
    isolated_margin: str | None = None,
) -> Position:
    return Position(
        symbol=symbol,
        side=side,
        quantity=D(quantity),
        entry_price=D(entry),
        mark_price=D(mark or entry),
        margin_mode=mode,
        leverage=D(leverage),
        isolated_margin=D(isolated_margin) if isolated_margin is not None else None,
    )


def snapshot(
    positions: list[Position],
    wallet: str = "10000",
    at: datetime = T0,
    markets: dict[str, MarketSpec] | None = None,
    funding: dict[str, str] | None = None,
    account: str = "acct",
) -> AccountSnapshot:
    markets = markets or {p.symbol: spec(p.symbol) for p in positions}
    data = {
        p.symbol: MarketData(
            p.symbol, p.mark_price, funding_rate=D((funding or {}).get(p.symbol, "0"))
        )
        for p in positions
    }
    return AccountSnapshot(
        account=account,
        venue="paper",
        taken_at=at,
        balance=Balance("USDT", D(wallet)),
        positions=tuple(positions),
        markets=frozen_map(markets),
        market_data=frozen_map(data),
    )
