"""The shadow report of a dry-run account: what the guard would have sold (or bought back), when,
at what price, and what that would have saved (+) or cost (-) by now; pure.

Per would-be order: saved = s x (price - mark now) x quantity, with s = +1 for a long (sold) and
-1 for a short (bought back); the price is the mark the plan was priced at (fees and slippage
aside), or its worst acceptable limit for records made before marks were recorded.

A dry-run never reduces the position, so a level-triggered rule (buffer floor, caps, stress,
funding close) restates its whole request every tick; a live guard would have sold the first
request and then only what a later one asks beyond it. Restatements of one rule on one position
are therefore counted as max(0, Q - largest earlier Q) (slices of one tick add up to its Q), and
one-shot steps (ladder bands, drawdown steps, funding cuts) in full."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from guard.core.domain import ZERO, PositionKey, Side, frozen_map

LEVEL_STEP = re.compile(r"\|t\d{8}T\d{6}\.\d{6}Z$")  # guard.core.policy.reductions.level_step


@dataclass(frozen=True, slots=True)
class WouldPlace:
    """One order a dry-run account recorded instead of sending."""

    client_order_id: str
    at: datetime
    symbol: str
    position_side: Side
    quantity: Decimal
    price: Decimal | None
    price_basis: str  # "mark" (the plan's reference mark), "limit" or "unknown"
    rule_ids: tuple[str, ...]
    steps: tuple[str, ...]
    reason: str

    @property
    def key(self) -> PositionKey:
        return PositionKey(self.symbol, self.position_side)

    @property
    def level(self) -> bool:
        return bool(self.steps) and all(LEVEL_STEP.search(step) for step in self.steps)


@dataclass(frozen=True, slots=True)
class ShadowLine:
    """One would-be reduction (the slices of one step together) and its outcome since."""

    at: datetime
    key: PositionKey
    client_order_ids: tuple[str, ...]
    rule_ids: tuple[str, ...]
    requested: Decimal  # what the dry-run records ask for
    counted: Decimal  # what a live guard would have sold (level restatements netted)
    price: Decimal | None
    price_basis: str
    mark_now: Decimal | None
    saved: Decimal | None  # s x (price - mark now) x counted; None when a price is unknown
    reason: str


@dataclass(frozen=True, slots=True)
class ShadowReport:
    account: str
    since: datetime | None  # None: every record
    taken_at: datetime
    lines: tuple[ShadowLine, ...]
    saved: Decimal  # sum of the known lines
    unknown: int  # lines without a price or a mark now
    ticks: Mapping[str, Decimal] = field(default_factory=frozen_map)  # symbol -> price tick

    def per_position(self) -> dict[PositionKey, tuple[Decimal, Decimal]]:
        """(quantity counted, saved) per position."""
        out: dict[PositionKey, tuple[Decimal, Decimal]] = {}
        for line in self.lines:
            quantity, saved = out.get(line.key, (ZERO, ZERO))
            out[line.key] = (quantity + line.counted, saved + (line.saved or ZERO))
        return out


def _saved(side: Side, price: Decimal | None, mark: Decimal | None, q: Decimal) -> Decimal | None:
    if price is None or mark is None:
        return None
    return side.sign * (price - mark) * q


def shadow_report(
    account: str,
    records: Iterable[WouldPlace],
    marks_now: Mapping[str, Decimal],
    since: datetime | None,
    taken_at: datetime,
    ticks: Mapping[str, Decimal] | None = None,
) -> ShadowReport:
    """The shadow report of `records` (any order) from `since`, valued at `marks_now`."""
    chosen = sorted(
        (r for r in records if since is None or r.at >= since),
        key=lambda r: (r.at, r.client_order_id),
    )
    groups: dict[tuple[str, ...], list[WouldPlace]] = {}  # slices of one step set, in order
    for record in chosen:
        groups.setdefault(record.steps or (record.client_order_id,), []).append(record)
    largest: dict[tuple[PositionKey, tuple[str, ...]], Decimal] = {}
    lines: list[ShadowLine] = []
    for steps, members in sorted(groups.items(), key=lambda item: item[1][0].at):
        first = members[0]
        requested = sum((m.quantity for m in members), ZERO)
        counted = requested
        if first.level:
            family = (first.key, tuple(sorted(LEVEL_STEP.sub("", s) for s in steps)))
            before = largest.get(family, ZERO)
            counted = max(requested - before, ZERO)
            largest[family] = max(before, requested)
        mark = marks_now.get(first.symbol)
        lines.append(
            ShadowLine(
                at=first.at,
                key=first.key,
                client_order_ids=tuple(m.client_order_id for m in members),
                rule_ids=first.rule_ids,
                requested=requested,
                counted=counted,
                price=first.price,
                price_basis=first.price_basis,
                mark_now=mark,
                saved=_saved(first.position_side, first.price, mark, counted),
                reason=first.reason,
            )
        )
    known = [line.saved for line in lines if line.saved is not None]
    return ShadowReport(
        account,
        since,
        taken_at,
        tuple(lines),
        sum(known, ZERO),
        len(lines) - len(known),
        frozen_map(ticks or {}),
    )
