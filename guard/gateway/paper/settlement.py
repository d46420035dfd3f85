"""The paper book in virtual time: funding accrued at its times, a margin pool liquidated when its
equity meets maintenance (a bankrupt shortfall absorbed by the venue); deterministic, no I/O."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from guard.core.domain import (
    ZERO,
    AccountSnapshot,
    MarginMode,
    PositionKey,
    require_utc,
)
from guard.core.funding_ledger import FundingPayment
from guard.core.margin import cross_equity, isolated_equity, liquidatable_pools
from guard.core.venues.base import maintenance_margin
from guard.gateway.paper.book import LiquidationEvent, PaperAccount, PaperBook


class PaperSettlement(PaperBook):
    """A paper book moving in virtual time: funding paid at its times, pools liquidated."""

    # ----- virtual time -------------------------------------------------------------------
    def advance_to(self, moment: datetime) -> None:
        """Move virtual time to `moment`, visiting every price knot and funding time on the way."""
        require_utc(moment, "advance_to")
        if moment < self.now:
            raise ValueError(f"paper venue time cannot go back from {self.now} to {moment}")
        stops = set(self.path.times_between(self.now, moment))
        for series in self.funding.values():
            stops.update(t for t, _ in series if self.now < t <= moment)
        stops.add(moment)
        for stop in sorted(stops):
            previous = self.now
            self.now = stop
            self._settle_funding(previous, stop)
            self._liquidate_all()

    def _settle_funding(self, start: datetime, end: datetime) -> None:
        for symbol, series in self.funding.items():
            for moment, rate in series:
                if not start < moment <= end:
                    continue
                mark = self.path.price(symbol, moment)
                for acct in self.accounts.values():
                    for pos in acct.positions.values():
                        if pos.symbol != symbol:
                            continue
                        payment = pos.side.sign * pos.quantity * mark * rate
                        pos.funding_paid += payment
                        acct.funding_ledger.append(
                            FundingPayment(
                                moment, symbol, pos.side, payment, pos.quantity, mark, rate
                            )
                        )
                        acct.funding_paid += payment
                        if pos.margin_mode is MarginMode.ISOLATED:
                            pos.isolated_margin -= payment
                        else:
                            acct.wallet -= payment

    def settled_snapshot(
        self, moment: datetime, account: str, then: Callable[[], object] = lambda: None
    ) -> AccountSnapshot:
        """`advance_to(moment)`, `then()` (which must not move the book, e.g. saving it), and
        the account's snapshot (counted as a fetch): the one the last liquidation check built,
        when that check closed nothing and no bankruptcy followed (the book has not moved
        since, so it is the snapshot `snapshot` would build again)."""
        self.advance_to(moment)
        checked, self._checked = self._checked, {}
        then()
        self.calls["fetch_snapshot"] += 1
        found = checked.get(account)
        return found if found is not None else self.snapshot(account)

    def _liquidate_all(self) -> None:
        checked = self._checked
        checked.clear()  # only the last stop's snapshots are current
        for acct in self.accounts.values():
            snapshot = self._liquidate(acct)
            if self._record_bankruptcy(acct):
                snapshot = None
            if snapshot is None:
                self._track_equity(acct)
            else:  # nothing moved since it was taken: its equity is the account's now
                self._track_equity(acct, snapshot.balance.venue_equity)
                checked[acct.name] = snapshot

    def _record_bankruptcy(self, acct: PaperAccount) -> bool:
        """A wallet past zero with no cross position left to liquidate (e.g. after fills at a
        gap) is bankrupt: the venue absorbs the shortfall and it counts as a liquidation.
        True when it did."""
        if acct.wallet >= ZERO or any(
            p.margin_mode is MarginMode.CROSS for p in acct.positions.values()
        ):
            return False
        shortfall = -acct.wallet
        acct.shortfall_absorbed += shortfall
        acct.wallet = ZERO
        acct.liquidations.append(
            LiquidationEvent(self.now, acct.name, (), "bankrupt", -shortfall, ZERO, ZERO)
        )
        return True

    def _liquidate(self, acct: PaperAccount) -> AccountSnapshot | None:
        """Close every pool that meets the liquidation condition; the snapshot checked when
        none did (the book unchanged), else None."""
        snapshot = self.snapshot(acct.name)
        hit = liquidatable_pools(snapshot, self.rules)
        if not hit:
            return snapshot
        cross_keys = tuple(k for k in hit if acct.positions[k].margin_mode is MarginMode.CROSS)
        if cross_keys:
            equity = cross_equity(snapshot)
            mm = sum(
                (
                    maintenance_margin(snapshot.position(k), self.markets[k.symbol])  # type: ignore[arg-type]
                    for k in cross_keys
                ),
                ZERO,
            )
            loss = self._close_pool(acct, cross_keys, equity, mm, penalty_from_wallet=True)
            acct.liquidations.append(
                LiquidationEvent(self.now, acct.name, cross_keys, "cross", equity, mm, loss)
            )
        for key in hit:
            if key in cross_keys:
                continue
            position = snapshot.position(key)
            assert position is not None
            equity = isolated_equity(position)
            mm = maintenance_margin(position, self.markets[key.symbol])
            loss = self._close_pool(acct, (key,), equity, mm, penalty_from_wallet=False)
            acct.liquidations.append(
                LiquidationEvent(
                    self.now, acct.name, (key,), f"isolated:{key.symbol}", equity, mm, loss
                )
            )
        return None

    def _close_pool(
        self,
        acct: PaperAccount,
        keys: tuple[PositionKey, ...],
        equity: Decimal,
        maintenance: Decimal,
        penalty_from_wallet: bool,
    ) -> Decimal:
        """Close the pool's positions at mark; the remaining maintenance margin is the penalty.

        A pool that ends below zero is bankrupt: the shortfall is absorbed by the venue
        (recorded, so the account's books still reconcile).
        """
        before = self.equity(acct.name)
        penalty = min(maintenance, max(equity, ZERO))
        acct.fees_paid += penalty
        for key in keys:
            pos = acct.positions.pop(key)
            pnl = pos.side.sign * (self.mark(key.symbol) - pos.entry_price) * pos.quantity
            acct.realized_pnl += pnl
            if pos.margin_mode is MarginMode.CROSS:
                acct.wallet += pnl
            else:
                remaining = pos.isolated_margin + pnl - penalty
                if remaining < ZERO:
                    acct.shortfall_absorbed += -remaining
                    remaining = ZERO
                acct.wallet += remaining
        if penalty_from_wallet:
            acct.wallet -= penalty
            if acct.wallet < ZERO:
                acct.shortfall_absorbed += -acct.wallet
                acct.wallet = ZERO
        return before - self.equity(acct.name)
