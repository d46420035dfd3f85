"""Reports as tables of text (prices at each market's tick, money to the cent, rates in %) and as
JSON-ready documents (exact Decimals); pure. The CLI draws the tables with rich, alerts as lines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from guard.core.numbers import plain, price_text
from guard.core.reports.funding import FundingReport
from guard.core.reports.shadow import ShadowReport
from guard.core.reports.stress_report import StressReport

CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class TextTable:
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    notes: tuple[str, ...] = ()


def money(value: Decimal | None) -> str:
    return "-" if value is None else format(value.quantize(CENT, ROUND_HALF_EVEN), "f")


def percent(value: Decimal | None, places: int = 4) -> str:
    if value is None:
        return "-"
    return f"{plain((value * 100).quantize(Decimal(1).scaleb(-places), ROUND_HALF_EVEN))}%"


def _price(value: Decimal | None, tick: Decimal | None) -> str:
    return "-" if value is None else price_text(value, tick)


def _when(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def funding_tables(report: FundingReport) -> list[TextTable]:
    """Per position, then the account: paid (+) / received (-) since, rate, next, a year."""
    rows = []
    for r in report.positions:
        tick = report.ticks.get(r.key.symbol)
        rules = "; ".join(
            f"{t.rule_id} at {percent(t.trigger_rate)} (headroom {percent(t.headroom)})"
            for t in r.triggers
        )
        rows.append(
            (
                r.key.symbol,
                r.key.side.value,
                plain(r.quantity) if r.is_open else "closed",
                money(r.paid_since),
                percent(r.rate),
                f"{r.interval.total_seconds() / 3600:g}h" if r.interval else "-",
                percent(r.paid_per_year, 2),
                money(r.next_payment),
                _when(r.next_funding_time),
                _price(r.breakeven_price, tick),
                rules or "-",
            )
        )
    history = "" if report.history_available else " (no funding history from this venue)"
    notes = [
        f"paid since {_when(report.since)}: {money(report.paid_since)}{history}; next payment "
        f"{money(report.next_payment)}; at today's rates {money(report.cost_per_year)} a year"
        + (
            f" ({percent(report.cost_per_year / report.equity, 2)} of equity)"
            if report.equity
            else ""
        ),
        "sign: + paid, - received (a positive rate: longs pay shorts); a year = 365 d / interval",
    ]
    columns: tuple[str, ...] = ("market", "side", "size", "paid since", "rate", "every")
    columns += ("a year", "next", "next at", "breakeven", "funding rules")
    return [
        TextTable(
            f"funding of {report.account} ({report.venue}) at {_when(report.taken_at)}",
            columns,
            tuple(rows),
            tuple(notes),
        )
    ]


def stress_tables(report: StressReport) -> list[TextTable]:
    """One row per shock: equity after, pools liquidated, the guard's first orders."""
    rows = []
    for o in report.outcomes:
        pools = ", ".join(
            f"{p.pool} ({', '.join(str(k) for k in p.positions)})" for p in o.pools if p.liquidated
        )
        orders = "; ".join(
            f"{plan.side.value} {plain(plan.quantity)} {plan.symbol}" for plan in o.orders
        )
        rows.append(
            (
                o.shock.name,
                o.source,
                money(o.equity),
                money(o.maintenance_margin),
                pools or "none",
                orders or "none",
            )
        )
    columns = ("shock", "from", "equity after", "maintenance", "liquidated pools", "guard first")
    notes = (
        f"equity now {money(report.equity)}; marks moved together; liquidation by the venue's "
        "own condition per pool (cross pool, each isolated position); orders planned on the "
        "shocked book, never sent",
        f"guard orders from {report.memory}",
    )
    title = f"stress of {report.account} ({report.venue}) at {_when(report.taken_at)}"
    return [TextTable(title, columns, tuple(rows), notes)]


def shadow_tables(report: ShadowReport) -> list[TextTable]:
    rows = []
    for line in report.lines:
        tick = report.ticks.get(line.key.symbol)
        action = "sell" if line.key.side.value == "long" else "buy"
        rows.append(
            (
                _when(line.at),
                f"{action} {plain(line.counted)} {line.key.symbol}"
                + (f" (asked {plain(line.requested)})" if line.counted != line.requested else ""),
                f"{_price(line.price, tick)} ({line.price_basis})",
                _price(line.mark_now, tick),
                money(line.saved),
                ", ".join(line.rule_ids),
            )
        )
    notes = (
        f"would have saved {money(report.saved)} since "
        f"{_when(report.since) if report.since else 'the first record'} "
        "(+ saved, - cost: s x (price - mark now) x size, fees and slippage aside)"
        + (f"; {report.unknown} order(s) without a price" if report.unknown else ""),
    )
    columns = ("when", "would", "at", "mark now", "saved", "rules")
    title = f"shadow of dry-run {report.account} at {_when(report.taken_at)}"
    return [TextTable(title, columns, tuple(rows), notes)]


def as_lines(tables: list[TextTable]) -> str:
    """Plain text for an alert body: a title, one `a | b | c` line per row, the notes."""
    out: list[str] = []
    for table in tables:
        out.append(table.title)
        out.append(" | ".join(table.columns))
        out.extend(" | ".join(row) for row in table.rows)
        out.extend(table.notes)
    return "\n".join(out)


def funding_json(report: FundingReport) -> dict[str, Any]:
    return {
        "report": "funding",
        "account": report.account,
        "venue": report.venue,
        "taken_at": report.taken_at,
        "since": report.since,
        "history_available": report.history_available,
        "sign": "positive: paid by the position; negative: received",
        "paid_since": report.paid_since,
        "next_payment": report.next_payment,
        "cost_per_year": report.cost_per_year,
        "equity": report.equity,
        "positions": [
            {
                "symbol": r.key.symbol,
                "side": r.key.side.value,
                "open": r.is_open,
                "margin_mode": r.margin_mode.value if r.margin_mode else None,
                "quantity": r.quantity,
                "entry_price": r.entry_price,
                "mark_price": r.mark_price,
                "paid_since": r.paid_since,
                "payments": r.payments,
                "rate": r.rate,
                "interval_hours": r.interval.total_seconds() / 3600 if r.interval else None,
                "paid_per_year": r.paid_per_year,
                "next_payment": r.next_payment,
                "next_funding_time": r.next_funding_time,
                "cost_per_year": r.cost_per_year,
                "paid_since_open": r.paid_since_open,
                "breakeven_price": r.breakeven_price,
                "funding_rules": [
                    {
                        "rule_id": t.rule_id,
                        "rate": t.rate_source,
                        "threshold_per_interval": t.threshold,
                        "trigger_rate": t.trigger_rate,
                        "headroom": t.headroom,
                    }
                    for t in r.triggers
                ],
            }
            for r in report.positions
        ],
    }


def stress_json(report: StressReport) -> dict[str, Any]:
    return {
        "report": "stress",
        "account": report.account,
        "venue": report.venue,
        "taken_at": report.taken_at,
        "equity": report.equity,
        "rule_memory": report.memory,
        "shocks": [
            {
                "name": o.shock.name,
                "source": o.source,
                "move": o.shock.move,
                "anchor": o.shock.anchor,
                "marks": dict(o.marks),
                "equity": o.equity,
                "maintenance_margin": o.maintenance_margin,
                "survives": o.survives,
                "pools": [
                    {
                        "pool": p.pool,
                        "equity": p.equity,
                        "maintenance_margin": p.maintenance_margin,
                        "liquidated": p.liquidated,
                        "positions": [str(k) for k in p.positions],
                    }
                    for p in o.pools
                ],
                "liquidated": [str(k) for k in o.liquidated],
                "guard_orders": [
                    {
                        "symbol": plan.symbol,
                        "side": plan.side.value,
                        "quantity": plan.quantity,
                        "reduce_only": plan.reduce_only,
                        "rule_ids": list(plan.rule_ids),
                    }
                    for plan in o.orders
                ],
                "reasons": list(o.reasons),
            }
            for o in report.outcomes
        ],
    }


def shadow_json(report: ShadowReport) -> dict[str, Any]:
    return {
        "report": "shadow",
        "account": report.account,
        "since": report.since,
        "taken_at": report.taken_at,
        "saved": report.saved,
        "unknown": report.unknown,
        "sign": "positive: selling then saved money; negative: it would have cost",
        "orders": [
            {
                "at": line.at,
                "symbol": line.key.symbol,
                "position_side": line.key.side.value,
                "requested": line.requested,
                "counted": line.counted,
                "price": line.price,
                "price_basis": line.price_basis,
                "mark_now": line.mark_now,
                "saved": line.saved,
                "rule_ids": list(line.rule_ids),
                "client_order_ids": list(line.client_order_ids),
                "reason": line.reason,
            }
            for line in report.lines
        ],
    }
