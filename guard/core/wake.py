"""The stream pre-check (pure): from the last full evaluation's per-position facts and one stream
update (mark price or position size), whether to wake an immediate full tick, and why. Invariant:
it only decides to wake; nothing here sizes an order (the woken tick reads the venue's truth)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from guard.core.domain import AccountSnapshot, Decision, Position, Side
from guard.core.policy.schema import PolicySet
from guard.core.policy.schema_ladders import ExitLadderRule, LadderMetric

DEFAULT_MOVE_FRACTION = Decimal("0.1")  # of the distance to liquidation at the last evaluation


@dataclass(frozen=True, slots=True)
class PositionFacts:
    """One position as the last full evaluation saw it, in mark-price terms."""

    symbol: str
    side: Side
    quantity: Decimal  # base units
    mark_price: Decimal
    liquidation_price: Decimal | None = None  # None: no positive price liquidates it
    triggers: tuple[Decimal, ...] = ()  # marks at which a band boundary or warning level lies

    @property
    def signed(self) -> Decimal:
        return self.quantity if self.side is Side.LONG else -self.quantity


@dataclass(frozen=True, slots=True)
class StreamUpdate:
    """One stream message as plain values: a mark price (venue-wide) or a position size."""

    symbol: str
    at: datetime  # the venue's timestamp (receipt time where the venue sends none)
    account: str | None = None  # None: venue-wide market data
    mark_price: Decimal | None = None
    quantity: Decimal | None = None  # signed net size (+ long, − short) in base units


def wake_reason(
    facts: Sequence[PositionFacts],
    update: StreamUpdate,
    move_fraction: Decimal = DEFAULT_MOVE_FRACTION,
) -> str | None:
    """Why `update` warrants a full tick now (None: it does not)."""
    mine = [f for f in facts if f.symbol == update.symbol]
    if update.quantity is not None:
        known = sum((f.signed for f in mine), Decimal(0))
        if update.quantity != known:
            return f"{update.symbol}: position size {known} -> {update.quantity} on the stream"
    mark = update.mark_price
    if mark is None or mark <= 0:
        return None
    for fact in mine:
        last = fact.mark_price
        if mark == last:
            continue
        for trigger in fact.triggers:
            if (last - trigger) * (mark - trigger) <= 0:
                return f"{update.symbol}: mark {last} -> {mark} crossed level {trigger}"
        liq = fact.liquidation_price
        if liq is not None:
            distance = abs(last - liq)
            if abs(mark - last) >= move_fraction * distance:
                return (
                    f"{update.symbol}: mark {last} -> {mark} moved at least {move_fraction} of "
                    f"the distance {distance} to liquidation {liq}"
                )
    return None


def facts_of(
    snapshot: AccountSnapshot, decision: Decision, policies: PolicySet
) -> tuple[PositionFacts, ...]:
    """The per-position facts of a full evaluation: size, mark, liquidation price and the marks
    of every exit-ladder band and re-arm level that a mark price alone decides."""
    risks = {(r.symbol, r.side): r for r in decision.positions}
    ladders = [r for r in policies.rules if isinstance(r, ExitLadderRule) and r.enabled]
    facts = []
    for position in snapshot.positions:
        risk = risks.get((position.symbol, position.side.value))
        liq = risk.liquidation_price if risk is not None else position.venue_liquidation_price
        triggers = sorted(set(_trigger_marks(position, liq, ladders)))
        facts.append(
            PositionFacts(
                position.symbol,
                position.side,
                position.quantity,
                position.mark_price,
                liq,
                tuple(triggers),
            )
        )
    return tuple(facts)


def _trigger_marks(
    position: Position, liq: Decimal | None, ladders: Iterable[ExitLadderRule]
) -> Iterable[Decimal]:
    long = position.side is Side.LONG
    entry = position.entry_price
    for rule in ladders:
        for level in (*(band.trigger for band in rule.bands), rule.rearm):
            mark = _mark_at(rule.metric, level, long, entry, liq)
            if mark is not None and mark > 0:
                yield mark


def _mark_at(
    metric: LadderMetric, level: Decimal, long: bool, entry: Decimal, liq: Decimal | None
) -> Decimal | None:
    """The mark at which `metric` of one position equals `level` (None: not a price alone)."""
    if metric is LadderMetric.MARK_PRICE:
        return level
    if metric is LadderMetric.UNREALIZED_LOSS_PCT:
        return entry * (1 - level) if long else entry * (1 + level)
    if liq is None:
        return None
    if metric is LadderMetric.LIQUIDATION_DISTANCE:  # (mark − liq)/mark towards liquidation
        if not long:
            return liq / (1 + level)
        return liq / (1 - level) if level < 1 else None
    if metric is LadderMetric.LIQUIDATION_PROGRESS:  # share of entry→liq used up
        return entry + level * (liq - entry)
    return None  # account-wide metrics (margin ratio, drawdown): the move rule and polling


def facts_by_symbol(facts: Sequence[PositionFacts]) -> Mapping[str, tuple[PositionFacts, ...]]:
    out: dict[str, tuple[PositionFacts, ...]] = {}
    for fact in facts:
        out[fact.symbol] = (*out.get(fact.symbol, ()), fact)
    return out
