"""The funding report: funding paid/received per position and account since a time, annualised
cost, predicted next payment and each funding rule's trigger; pure. One sign everywhere: a
positive amount or rate is PAID by the position, negative is received (positive rate: longs pay).

Formulas (per position, rate r per funding interval I of its market, side sign s = +1 long,
-1 short, notional N = size x price basis, the mark or the venue's oracle):
  next payment  = s x r x N                  (what the next settlement costs at today's rate)
  paid per year = s x r x (365 d / I)         (the annualised funding rate, positive: pays)
  cost per year = next payment x (365 d / I)
  breakeven     = entry + s x F / size        (F: funding paid since the position opened)
  a funding_threshold rule with threshold t (per interval, or per year when annualised: t x I /
  365 d per interval) acts when s x r > t: longs at r > t, shorts at r < -t; headroom = t - s x r.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from guard.core.domain import (
    ZERO,
    AccountSnapshot,
    MarginMode,
    MarketData,
    Position,
    PositionKey,
    frozen_map,
)
from guard.core.funding_ledger import FundingPayment
from guard.core.margin import funding_per_interval
from guard.core.policy.schema import PolicySet
from guard.core.policy.schema_levels import FundingThresholdRule, RateSource
from guard.core.venues.base import VenueRules

YEAR = timedelta(days=365)


def periods_per_year(interval: timedelta) -> Decimal:
    """How many funding intervals of `interval` fit in 365 days (exact: 1095 for 8 h, 8760 for 1 h)."""
    return Decimal(int(YEAR.total_seconds())) / Decimal(str(interval.total_seconds()))


@dataclass(frozen=True, slots=True)
class RuleTrigger:
    """Where one funding_threshold rule acts on one position."""

    rule_id: str
    rate_source: str  # "current" or "predicted"
    threshold: Decimal  # per funding interval, on the rate this position pays
    trigger_rate: Decimal  # the venue's signed rate at which it acts (+t long, -t short)
    headroom: Decimal | None  # t - s x r now: negative means the rule's condition holds now


@dataclass(frozen=True, slots=True)
class PositionFunding:
    """Funding of one position (open now, or closed but paid or received since the start)."""

    key: PositionKey
    is_open: bool
    margin_mode: MarginMode | None
    quantity: Decimal
    entry_price: Decimal | None
    mark_price: Decimal | None
    paid_since: Decimal  # sum of the ledger's payments since the report's start
    payments: int
    rate: Decimal | None  # the venue's current rate per interval
    interval: timedelta | None
    paid_per_year: Decimal | None  # s x r x periods a year (positive: pays)
    next_payment: Decimal | None  # s x r x notional at the price basis
    cost_per_year: Decimal | None
    next_funding_time: datetime | None
    paid_since_open: Decimal  # the venue's accumulated funding of the open position
    breakeven_price: Decimal | None
    triggers: tuple[RuleTrigger, ...]


@dataclass(frozen=True, slots=True)
class FundingReport:
    account: str
    venue: str
    taken_at: datetime
    since: datetime
    history_available: bool  # False: the gateway offers no funding history (paid_since unknown)
    positions: tuple[PositionFunding, ...]
    paid_since: Decimal
    next_payment: Decimal
    cost_per_year: Decimal
    equity: Decimal | None
    ticks: Mapping[str, Decimal] = field(default_factory=frozen_map)  # symbol -> price tick


def breakeven_price(position: Position) -> Decimal | None:
    """The mark at which the position's P&L covers the funding it paid since it opened."""
    if position.quantity <= ZERO:
        return None
    return position.entry_price + position.side.sign * position.accumulated_funding / (
        position.quantity
    )


def _triggers(
    position: Position,
    account: str,
    data: MarketData | None,
    interval: timedelta,
    rules: PolicySet,
) -> tuple[RuleTrigger, ...]:
    found: list[RuleTrigger] = []
    for rule in rules.rules:
        if not isinstance(rule, FundingThresholdRule) or not rule.enabled:
            continue
        if not rule.select.matches_account(account) or not rule.select.matches_position(position):
            continue
        per_interval = (
            rule.threshold / periods_per_year(interval) if rule.annualised else rule.threshold
        )
        paid = None
        if data is not None:
            current = rule.rate is RateSource.CURRENT
            paid = data.funding_rate if current else data.predicted_funding_rate
        found.append(
            RuleTrigger(
                rule.id,
                rule.rate.value,
                per_interval,
                position.side.sign * per_interval,
                None if paid is None else per_interval - position.side.sign * paid,
            )
        )
    return tuple(found)


def _open_row(
    position: Position,
    snapshot: AccountSnapshot,
    venue: VenueRules,
    policies: PolicySet,
    paid: Decimal,
    count: int,
) -> PositionFunding:
    market = snapshot.market(position.symbol)
    data = snapshot.market_data.get(position.symbol)
    rate = data.funding_rate if data is not None else None
    price = data.index_price if venue.funding_price_basis == "oracle" and data else None
    periods = periods_per_year(market.funding_interval)
    next_payment = None if rate is None else funding_per_interval(position, rate, price)
    return PositionFunding(
        key=position.key,
        is_open=True,
        margin_mode=position.margin_mode,
        quantity=position.quantity,
        entry_price=position.entry_price,
        mark_price=position.mark_price,
        paid_since=paid,
        payments=count,
        rate=rate,
        interval=market.funding_interval,
        paid_per_year=None if rate is None else position.side.sign * rate * periods,
        next_payment=next_payment,
        cost_per_year=None if next_payment is None else next_payment * periods,
        next_funding_time=data.next_funding_time if data is not None else None,
        paid_since_open=position.accumulated_funding,
        breakeven_price=breakeven_price(position),
        triggers=_triggers(position, snapshot.account, data, market.funding_interval, policies),
    )


def funding_report(
    snapshot: AccountSnapshot,
    payments: Iterable[FundingPayment] | None,
    policies: PolicySet,
    venue: VenueRules,
    since: datetime,
    equity: Decimal | None = None,
) -> FundingReport:
    """The funding report of `snapshot` from `since`; `payments` None: no history offered."""
    ledger: Sequence[FundingPayment] = [p for p in (payments or ()) if p.at >= since]
    paid: dict[PositionKey, Decimal] = {}
    counts: dict[PositionKey, int] = {}
    for payment in ledger:
        paid[payment.key] = paid.get(payment.key, ZERO) + payment.amount
        counts[payment.key] = counts.get(payment.key, 0) + 1
    rows = [
        _open_row(p, snapshot, venue, policies, paid.get(p.key, ZERO), counts.get(p.key, 0))
        for p in sorted(snapshot.positions, key=lambda p: p.key)
    ]
    open_keys = {p.key for p in snapshot.positions}
    for key in sorted(k for k in paid if k not in open_keys):
        rows.append(
            PositionFunding(
                key, False, None, ZERO, None, None, paid[key], counts[key], None, None, None,
                None, None, None, ZERO, None, (),
            )
        )  # fmt: skip
    return FundingReport(
        account=snapshot.account,
        venue=snapshot.venue,
        taken_at=snapshot.taken_at,
        since=since,
        history_available=payments is not None,
        positions=tuple(rows),
        paid_since=sum((r.paid_since for r in rows), ZERO),
        next_payment=sum((r.next_payment or ZERO for r in rows), ZERO),
        cost_per_year=sum((r.cost_per_year or ZERO for r in rows), ZERO),
        equity=equity,
        ticks=frozen_map({s: m.price_tick for s, m in snapshot.markets.items()}),
    )
