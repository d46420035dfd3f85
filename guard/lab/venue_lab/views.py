"""Read-only views of a paper account for the venue modules: positions with mark, notional,
unrealised PnL, initial and tiered maintenance margin; the account's wallet and equity. Pure
arithmetic over the paper book at its current virtual time (or a stale moment)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from guard.core.domain import ZERO, MarginMode, MarketSpec, Side
from guard.core.venues.base import maintenance_at
from guard.lab.venue_lab.book import LabBook


@dataclass(frozen=True, slots=True)
class PositionView:
    symbol: str  # paper symbol
    side: Side
    quantity: Decimal
    entry_price: Decimal
    mark: Decimal
    leverage: Decimal
    margin_mode: MarginMode
    isolated_margin: Decimal
    funding_paid: Decimal
    spec: MarketSpec

    @property
    def signed(self) -> Decimal:
        return self.side.sign * self.quantity

    @property
    def notional(self) -> Decimal:
        return self.quantity * self.mark

    @property
    def upnl(self) -> Decimal:
        return self.side.sign * (self.mark - self.entry_price) * self.quantity

    @property
    def initial_margin(self) -> Decimal:
        return self.notional / self.leverage

    @property
    def maintenance(self) -> Decimal:
        return maintenance_at(self.quantity, self.mark, self.spec)


@dataclass(frozen=True, slots=True)
class AccountView:
    wallet: Decimal  # cross wallet (isolated margins excluded), as the paper book keeps it
    positions: tuple[PositionView, ...]

    @property
    def cross(self) -> tuple[PositionView, ...]:
        return tuple(p for p in self.positions if p.margin_mode is MarginMode.CROSS)

    @property
    def isolated(self) -> tuple[PositionView, ...]:
        return tuple(p for p in self.positions if p.margin_mode is MarginMode.ISOLATED)

    @property
    def cross_upnl(self) -> Decimal:
        return sum((p.upnl for p in self.cross), ZERO)

    @property
    def isolated_equity(self) -> Decimal:
        return sum((p.isolated_margin + p.upnl for p in self.isolated), ZERO)

    @property
    def equity(self) -> Decimal:
        return self.wallet + self.cross_upnl + self.isolated_equity

    @property
    def cross_maintenance(self) -> Decimal:
        return sum((p.maintenance for p in self.cross), ZERO)

    @property
    def maintenance(self) -> Decimal:
        return sum((p.maintenance for p in self.positions), ZERO)

    @property
    def initial_margin(self) -> Decimal:
        return sum((p.initial_margin for p in self.positions), ZERO)

    @property
    def available(self) -> Decimal:
        cross_im = sum((p.initial_margin for p in self.cross), ZERO)
        return max(self.wallet + self.cross_upnl - cross_im, ZERO)


def account_view(book: LabBook, paper_account: str, at: datetime | None = None) -> AccountView:
    """The account at virtual now, or with marks as of `at` (a stale answer)."""
    paper = book.paper
    acct = paper.accounts[paper_account]
    moment = at or paper.now
    views = []
    for position in acct.positions.values():
        views.append(
            PositionView(
                symbol=position.symbol,
                side=position.side,
                quantity=position.quantity,
                entry_price=position.entry_price,
                mark=paper.path.price(position.symbol, moment),
                leverage=position.leverage,
                margin_mode=position.margin_mode,
                isolated_margin=position.isolated_margin,
                funding_paid=position.funding_paid,
                spec=paper.markets[position.symbol],
            )
        )
    views.sort(key=lambda v: (v.symbol, v.side.value))
    return AccountView(acct.wallet, tuple(views))


def fmt(value: Decimal | None, places: int | None = None) -> str:
    """A venue number string: fixed-point, `places` decimals if given, no exponent."""
    if value is None:
        return "0"
    if places is not None:
        value = value.quantize(Decimal(1).scaleb(-places))
    text = format(value, "f")
    return text
