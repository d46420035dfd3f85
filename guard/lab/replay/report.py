"""The replay report: per-run figures as JSON-ready values (money as strings, two decimals)."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from guard.lab.replay.runner import ReplayResult, RunResult
from guard.lab.replay.setup import ReplaySetup

CENT = Decimal("0.01")


def money(value: Decimal) -> str:
    """Two decimals, half-even; a value that rounds to zero prints as 0.00 (never -0.00)."""
    rounded = value.quantize(CENT, rounding=ROUND_HALF_EVEN)
    return str(rounded if rounded != 0 else abs(rounded))


def run_json(run: RunResult) -> dict[str, Any]:
    return {
        "liquidations": len(run.liquidations),
        "min_equity": money(run.min_equity),
        "final_equity": money(run.final_equity),
        "max_drawdown": money(run.max_drawdown),
        "max_drawdown_pct": str((run.max_drawdown_pct * 100).quantize(CENT)),
        "funding_paid": money(run.funding_paid),
        "fees_and_slippage": money(run.fees_and_slippage),
        "orders": run.orders,
        "starting_collateral": money(run.starting_collateral),
        "realized_pnl": money(run.realized_pnl),
        "unrealized_pnl": money(run.unrealized_pnl),
        "shortfall_absorbed": money(run.shortfall_absorbed),
        "open_positions": run.open_positions,
        "reconciliation_error": money(run.reconciliation_error),
        "first_order_at": run.first_order_at.isoformat() if run.first_order_at else None,
        "rule_contributions": {
            rule: {"orders": count, "notional": money(notional)}
            for rule, (count, notional) in run.contributions.items()
        },
        "warnings": list(run.warnings),
        "description": run.description,
        "liquidation_events": [
            {
                "at": event.at.isoformat(),
                "pool": event.pool,
                "positions": [str(key) for key in event.keys],
                "equity": money(event.equity),
                "maintenance": money(event.maintenance),
            }
            for event in run.liquidations
        ],
    }


def report_json(
    setup: ReplaySetup,
    result: ReplayResult,
    *,
    tick: str,
    stop_loss: Decimal,
    policy: str,
    audit_db: str | None,
    chart: str | None,
) -> dict[str, Any]:
    runs = {run.name: run_json(run) for run in result.runs}
    for name, entry in runs.items():  # + means the run kept more than doing nothing
        entry["equity_vs_unguarded"] = money(
            result.run(name).final_equity - result.unguarded.final_equity
        )
    return {
        "runs": runs,
        "setup": {
            "name": setup.name,
            "venue": setup.rules.name,
            "symbols": list(setup.symbols),
            "start": setup.start.isoformat(),
            "end": setup.end.isoformat(),
            "bars": setup.bars,
            "price": setup.price,
            "tick": tick,
            "stop_loss": f"{(stop_loss * 100).normalize():f}%",
            "policy": policy,
            "collateral": money(setup.collateral),
        },
        "audit_db": audit_db,
        "chart": chart,
        "speed": {
            run.name: {
                "seconds": round(run.seconds, 3),
                "bars_per_second": round(setup.bars / run.seconds, 1) if run.seconds else None,
            }
            for run in result.runs
        },
    }


COLUMNS = (  # report key, table header
    ("liquidations", "liquidations"),
    ("min_equity", "min equity"),
    ("final_equity", "final equity"),
    ("max_drawdown", "max drawdown"),
    ("funding_paid", "funding paid"),
    ("fees_and_slippage", "fees + slippage"),
    ("orders", "orders"),
    ("equity_vs_unguarded", "equity vs unguarded"),
    ("first_order_at", "first order at"),
)
