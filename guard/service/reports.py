"""Report inputs: the account's snapshot and funding history through its gateway (reads only),
the dry-run orders from the audit log; and the report of a kind built from them. Not pure
(gateway and store reads); nothing is ever sent to a venue."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from guard.core.audit import EventKind
from guard.core.domain import ZERO, Side
from guard.core.margin import measure
from guard.core.policy.schema import PolicySet
from guard.core.reports import render
from guard.core.reports.funding import FundingReport, funding_report
from guard.core.reports.shadow import ShadowReport, WouldPlace, shadow_report
from guard.core.reports.stress_report import StressReport, stress_report
from guard.core.step_memory import for_mode
from guard.core.venues.base import VenueRules
from guard.gateway.base import FundingHistoryUnavailable, Gateway, funding_history
from guard.store import Store

KINDS = ("funding", "stress", "shadow")
Report = FundingReport | StressReport | ShadowReport
# how far back a report looks without --since: a day of funding, every dry-run order
DEFAULT_LOOKBACK = {"funding": timedelta(days=1)}
MANY = 1_000_000  # audit rows read for a shadow report (the dry-run orders of one account)


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def would_place_records(store: Store, account: str, since: datetime | None) -> list[WouldPlace]:
    """The dry-run orders of `account` from the audit log (one per client id, oldest first)."""
    events = store.tail(MANY, account=account, kind=EventKind.ORDER_WOULD_PLACE.value, since=since)
    seen: set[str] = set()
    records: list[WouldPlace] = []
    for event in events:
        payload = event.payload
        cid = event.client_order_id
        if cid is None or cid in seen or event.symbol is None or "quantity" not in payload:
            continue
        seen.add(cid)
        reference = _decimal(payload.get("reference_price"))
        limit = _decimal(payload.get("limit_price"))
        price, basis = (
            (reference, "mark") if reference is not None else (limit, "limit" if limit else "-")
        )
        records.append(
            WouldPlace(
                client_order_id=cid,
                at=event.at,
                symbol=event.symbol,
                position_side=Side(payload["position_side"]),
                quantity=Decimal(str(payload["quantity"])),
                price=price,
                price_basis=basis if price is not None else "unknown",
                rule_ids=tuple(payload.get("rule_ids", ())),
                steps=tuple(payload.get("steps", ())),
                reason=str(payload.get("reason", "")),
            )
        )
    return records


async def build_report(
    kind: str,
    *,
    account: str,
    gateway: Gateway,
    rules: VenueRules,
    policies: PolicySet,
    store: Store | None,
    since: datetime | None,
    dry_run: bool = False,
) -> Report:
    """The `kind` report of `account` now (its gateway's time), from `since` (a default when None);
    the stress report's guard orders from the store's live rule memory of the account (as the
    running guard of its mode, `dry_run`, would read it; a fresh memory without a store).

    Raises the gateway's errors (GatewayError) and ValueError for an unknown kind."""
    if kind not in KINDS:
        raise ValueError(f"unknown report {kind!r}: one of {', '.join(KINDS)}")
    snapshot = await gateway.fetch_snapshot(account)
    if kind == "stress":
        memory = for_mode(store.load_state(account), dry_run) if store is not None else None
        return stress_report(snapshot, policies, rules, memory=memory)
    if kind == "funding":
        start = since or snapshot.taken_at - DEFAULT_LOOKBACK["funding"]
        try:
            payments: Sequence[Any] | None = await funding_history(gateway, account, start)
        except FundingHistoryUnavailable:
            payments = None
        equity = measure(snapshot, rules).equity
        return funding_report(snapshot, payments, policies, rules, start, equity)
    if store is None:
        raise ValueError("the shadow report reads the audit log: it needs the database")
    marks = {s: d.mark_price for s, d in snapshot.market_data.items()}
    marks.update({p.symbol: p.mark_price for p in snapshot.positions})
    ticks = {s: m.price_tick for s, m in snapshot.markets.items()}
    records = would_place_records(store, account, since)
    return shadow_report(account, records, marks, since, snapshot.taken_at, ticks)


def tables(report: Report) -> list[render.TextTable]:
    if isinstance(report, FundingReport):
        return render.funding_tables(report)
    if isinstance(report, StressReport):
        return render.stress_tables(report)
    return render.shadow_tables(report)


def document(report: Report) -> dict[str, Any]:
    if isinstance(report, FundingReport):
        return render.funding_json(report)
    if isinstance(report, StressReport):
        return render.stress_json(report)
    return render.shadow_json(report)


def headline(report: Report) -> str:
    """One line for an alert title."""
    if isinstance(report, FundingReport):
        return (
            f"funding {report.account}: paid {render.money(report.paid_since)} since "
            f"{report.since:%Y-%m-%d %H:%M}, next {render.money(report.next_payment)}"
        )
    if isinstance(report, StressReport):
        failing = [o.shock.name for o in report.outcomes if not o.survives]
        return f"stress {report.account}: " + (
            f"liquidation under {', '.join(failing)}" if failing else "survives every shock"
        )
    verb = "saved" if report.saved >= ZERO else "cost"
    return f"shadow {report.account}: dry-run orders would have {verb} {render.money(abs(report.saved))}"
