"""The paper venue's book: accounts, positions, fills, liquidation records and their arithmetic at
the path's mark (equity, snapshots); pure in-memory state. Money is Decimal, time is UTC."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from guard.core.domain import (
    ZERO,
    AccountSnapshot,
    Balance,
    MarginMode,
    MarketData,
    MarketSpec,
    OrderResult,
    OrderSide,
    Position,
    PositionKey,
    Side,
    frozen_map,
    require_utc,
)
from guard.core.funding_ledger import FundingPayment
from guard.core.margin import isolated_equity
from guard.core.venues import paper as paper_rules
from guard.gateway.base import PermanentError
from guard.gateway.paper.impact import ExecutionModel, ImpactMemory
from guard.gateway.paper.path import PricePath


@dataclass(frozen=True, slots=True)
class SlippageModel:
    """Fill price = mark moved against the taker by half the spread plus linear impact."""

    half_spread: Decimal = Decimal("0.0002")
    impact_per_notional: Decimal = Decimal("0.00000005")  # fraction per unit of quote notional

    def fill_price(
        self,
        side: OrderSide,
        mark: Decimal,
        quantity: Decimal,
        earlier_notional: Decimal = ZERO,
        volatility_scale: Decimal = Decimal(1),
    ) -> Decimal:
        """`earlier_notional`: recent fills still weighing on the book; `volatility_scale`:
        impact multiplier for a volatile market (see guard.gateway.paper.impact)."""
        impact = self.impact_per_notional * (quantity * mark + earlier_notional)
        slip = self.half_spread + impact * volatility_scale
        return mark * (1 + slip) if side is OrderSide.BUY else mark * (1 - slip)


@dataclass(slots=True)
class PaperPosition:
    symbol: str
    side: Side
    quantity: Decimal
    entry_price: Decimal
    margin_mode: MarginMode
    leverage: Decimal
    isolated_margin: Decimal = ZERO
    funding_paid: Decimal = ZERO


@dataclass(slots=True)
class PaperAccount:
    name: str
    wallet: Decimal
    reduce_only_required: bool = True
    positions: dict[PositionKey, PaperPosition] = field(default_factory=dict)
    orders: dict[str, OrderResult] = field(default_factory=dict)
    liquidations: list[LiquidationEvent] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
    funding_ledger: list[FundingPayment] = field(default_factory=list)  # every settlement
    min_equity: Decimal | None = None
    funding_paid: Decimal = ZERO
    fees_paid: Decimal = ZERO
    slippage_paid: Decimal = ZERO
    realized_pnl: Decimal = ZERO  # at mark; slippage and fees are booked apart
    shortfall_absorbed: Decimal = ZERO  # bankruptcy losses the venue took over
    starting_collateral: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class LiquidationEvent:
    at: datetime
    account: str
    keys: tuple[PositionKey, ...]
    pool: str  # "cross" or "isolated:<symbol>"
    equity: Decimal
    maintenance: Decimal
    loss: Decimal


@dataclass(frozen=True, slots=True)
class Fill:
    at: datetime
    account: str
    client_order_id: str
    symbol: str
    side: OrderSide
    quantity: Decimal
    price: Decimal
    fee: Decimal
    realized_pnl: Decimal


class PaperBook:
    """The accounts of a paper venue and their arithmetic at the path's mark, at virtual `now`."""

    venue = "paper"

    def __init__(
        self,
        markets: Mapping[str, MarketSpec],
        path: PricePath,
        funding: Mapping[str, Sequence[tuple[datetime, Decimal]]] | None = None,
        slippage: SlippageModel | None = None,
        start: datetime | None = None,
        execution: ExecutionModel | None = None,
    ) -> None:
        self.markets = dict(markets)
        self.path = path
        self.funding = {s: sorted(v) for s, v in (funding or {}).items()}
        self.execution = execution or ExecutionModel()
        impact = self.execution.impact_per_notional
        if slippage is None and impact is not None:
            slippage = SlippageModel(impact_per_notional=impact)
        self.slippage = slippage or SlippageModel()
        self.impact = ImpactMemory(self.execution)
        self.now = require_utc(start or path.start, "paper start")
        self._marks: dict[str, Decimal] = {}  # symbol -> mark at _marks_at on _marks_path
        self._marks_at: datetime | None = None
        self._marks_path: PricePath | None = None
        # account -> the snapshot the last liquidation check built, while the book has not
        # moved since (see PaperSettlement.settled_snapshot)
        self._checked: dict[str, AccountSnapshot] = {}
        self.accounts: dict[str, PaperAccount] = {}
        self.calls: Counter[str] = Counter()
        self.rules = paper_rules.RULES

    # ----- set-up -------------------------------------------------------------------------
    def open_account(self, name: str, wallet: Decimal, reduce_only_required: bool = True) -> None:
        self.accounts[name] = PaperAccount(
            name, wallet, reduce_only_required, starting_collateral=wallet
        )

    def seed_position(
        self,
        account: str,
        symbol: str,
        side: Side,
        quantity: Decimal,
        entry_price: Decimal,
        leverage: Decimal,
        margin_mode: MarginMode = MarginMode.CROSS,
        isolated_margin: Decimal | None = None,
    ) -> None:
        """Place a starting position directly (set-up only; the guard can never open one).

        For an isolated position the margin (notional ÷ leverage unless given) is taken from the
        wallet, as a venue does when the position is opened.
        """
        acct = self._account(account)
        margin = ZERO
        if margin_mode is MarginMode.ISOLATED:
            margin = (
                isolated_margin
                if isolated_margin is not None
                else quantity * entry_price / leverage
            )
            acct.wallet -= margin  # moved from the wallet into the position: collateral unchanged
        acct.positions[PositionKey(symbol, side)] = PaperPosition(
            symbol, side, quantity, entry_price, margin_mode, leverage, margin
        )
        self._track_equity(acct)

    # ----- accounting ---------------------------------------------------------------------
    def mark(self, symbol: str) -> Decimal:
        """The path's price of `symbol` at `now`, looked up once per symbol per moment (a
        snapshot reads each mark several times: positions, equity, market data)."""
        now, path = self.now, self.path
        if self._marks_at is not now or self._marks_path is not path:
            self._marks.clear()
            self._marks_at, self._marks_path = now, path
        found = self._marks.get(symbol)
        if found is None:
            found = self._marks[symbol] = path.price(symbol, now)
        return found

    def snapshot(self, account: str) -> AccountSnapshot:
        acct = self._account(account)
        positions = tuple(self._position(p) for p in acct.positions.values())
        symbols = sorted(self.markets)
        return AccountSnapshot(
            account=account,
            venue=self.venue,
            taken_at=self.now,
            balance=Balance("USDT", acct.wallet, venue_equity=_equity(acct, positions)),
            positions=positions,
            markets=frozen_map({s: self.markets[s] for s in symbols}),
            market_data=frozen_map({s: self._market_data(s) for s in symbols}),
        )

    def equity(self, account: str) -> Decimal:
        acct = self._account(account)
        return _equity(acct, [self._position(p) for p in acct.positions.values()])

    def _account(self, name: str) -> PaperAccount:
        try:
            return self.accounts[name]
        except KeyError:
            raise PermanentError(f"paper: no account named {name!r}") from None

    def _position(self, paper: PaperPosition) -> Position:
        return Position(
            symbol=paper.symbol,
            side=paper.side,
            quantity=paper.quantity,
            entry_price=paper.entry_price,
            mark_price=self.mark(paper.symbol),
            margin_mode=paper.margin_mode,
            leverage=paper.leverage,
            isolated_margin=paper.isolated_margin
            if paper.margin_mode is MarginMode.ISOLATED
            else None,
            accumulated_funding=paper.funding_paid,
        )

    def _market_data(self, symbol: str) -> MarketData:
        mark = self.mark(symbol)
        rate, next_time = self._funding_now(symbol)
        half = mark * self.slippage.half_spread
        return MarketData(
            symbol=symbol,
            mark_price=mark,
            index_price=mark,
            funding_rate=rate,
            next_funding_time=next_time,
            best_bid=mark - half,
            best_ask=mark + half,
        )

    def _funding_now(self, symbol: str) -> tuple[Decimal | None, datetime | None]:
        series = self.funding.get(symbol, [])
        upcoming = [(t, r) for t, r in series if t > self.now]
        if upcoming:
            return upcoming[0][1], upcoming[0][0]
        return (series[-1][1], None) if series else (None, None)

    def _track_equity(self, acct: PaperAccount, equity: Decimal | None = None) -> None:
        """Remember the account's lowest equity (`equity`: its equity now, when known)."""
        if equity is None:
            equity = self.equity(acct.name)
        if acct.min_equity is None or equity < acct.min_equity:
            acct.min_equity = equity


def _equity(acct: PaperAccount, snapshot_positions: Sequence[Position]) -> Decimal:
    """The account's equity: wallet + cross unrealized PnL + isolated pools' equity, from its
    positions as a snapshot shows them now."""
    upnl_cross = sum(
        (p.unrealized_pnl for p in snapshot_positions if p.margin_mode is MarginMode.CROSS),
        ZERO,
    )
    isolated = sum(
        (isolated_equity(p) for p in snapshot_positions if p.margin_mode is MarginMode.ISOLATED),
        ZERO,
    )
    return acct.wallet + upnl_cross + isolated
