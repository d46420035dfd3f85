"""`guard evaluate`: a pure offline run of policies on a saved snapshot file — metrics, findings
with reasons and the reduce-only orders the guard would plan. Nothing is sent anywhere."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from guard.core.domain import Decision, GuardState, MarketSpec
from guard.core.engine import evaluate as run_engine
from guard.core.numbers import market_price, market_quantity, money_text, plain, ratio_text
from guard.core.planner import Plan, plan
from guard.core.venues.registry import VENUES, rules_for
from guard.core.yaml_model import ConfigError
from guard.gateway.parsers import PayloadError, parse_snapshot
from guard.operator.commands.common import console, errors, fail, parse_time, print_json
from guard.service.files import load_policies


def register(app: typer.Typer) -> None:
    @app.command()
    def evaluate(
        snapshot: Annotated[
            Path, typer.Option(help="snapshot JSON file (the `guard inspect` format)")
        ],
        policy: Annotated[list[Path], typer.Option(help="policy YAML file (repeat for several)")],
        venue: Annotated[
            str, typer.Option(help=f"venue of the snapshot: {', '.join(VENUES)}")
        ] = "paper",
        account: Annotated[
            str | None, typer.Option(help="account name (default: the file stem)")
        ] = None,
        at: Annotated[
            str | None,
            typer.Option(
                help="ISO-8601 UTC time of the snapshot (default: the file's `taken_at`, else now)"
            ),
        ] = None,
        json_output: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    ) -> None:
        """Evaluate POLICY on SNAPSHOT offline: metrics, findings and the orders it would plan."""
        try:
            rules = rules_for(venue)
        except ValueError as error:
            fail(str(error))
        try:
            policies = load_policies(policy)
        except ConfigError as error:
            fail(str(error))
        raw = _load(snapshot)
        taken_at = _taken_at(at, raw.get("taken_at"), snapshot)
        try:
            parsed = parse_snapshot(rules.name, account or snapshot.stem, taken_at, raw)
            decision = run_engine(parsed.snapshot, policies, GuardState(), rules, taken_at)
            planned = plan(decision, parsed.snapshot, rules)
        except (PayloadError, KeyError, ValueError) as error:
            fail(f"{snapshot}: {str(error).strip(chr(39) + chr(34))}")
        document = as_json(decision, planned, parsed.notes, policies.fingerprint)
        if json_output:
            print_json(document)
            return
        _print(document, parsed.snapshot.markets)


def _taken_at(option: str | None, in_file: Any, path: Path) -> datetime:
    text = option if option is not None else in_file
    if text is None:
        return datetime.now(UTC)
    where = "--at" if option is not None else f"{path}: taken_at"
    return parse_time(str(text), where)


def _load(path: Path) -> dict[str, Any]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        fail(f"{path}: cannot read the snapshot file ({error.strerror or error})")
    except json.JSONDecodeError as error:
        fail(f"{path}:{error.lineno}:{error.colno}: not valid JSON ({error.msg})")
    if not isinstance(raw, dict):
        fail(f"{path}: expected a JSON object with positions, balance, markets, funding_rates")
    return raw


def _num(value: Decimal | None) -> str | None:
    return None if value is None else plain(value)


MONEY = ("equity", "maintenance_margin", "free_collateral")  # metrics in the account's currency
RATIOS = ("margin_ratio", "worst_liquidation_distance", "drawdown")  # fractions, shown in %


def metric_text(name: str, value: Decimal | None) -> str:
    """One metric as the table shows it: money to the cent, ratios in %, leverage to 0.01."""
    if value is None:
        return "-"
    if not value.is_finite():
        return str(value)
    if name in MONEY:
        return money_text(value)
    if name in RATIOS:
        return ratio_text(value)
    return plain(value.quantize(Decimal("0.01"), ROUND_HALF_EVEN))


def as_json(
    decision: Decision, planned: Plan, notes: tuple[str, ...], fingerprint: str
) -> dict[str, Any]:
    """The `--json` document: exact decimal strings in plain notation (null where unknown); the
    tables round them to the market's precision."""
    return {
        "account": decision.account,
        "taken_at": decision.taken_at.isoformat(),
        "policy_fingerprint": fingerprint,
        "metrics": {name: _num(value) for name, value in decision.metrics.items()},
        "findings": [
            {
                "rule_id": f.rule_id,
                "kind": f.kind,
                "severity": f.severity.value,
                "symbol": f.symbol,
                "side": f.side.value if f.side is not None else None,
                "reason": f.reason,
                "metric": f.metric,
                "value": _num(f.value),
                "threshold": _num(f.threshold),
                "requested_quantity": _num(f.request.quantity if f.request else None),
            }
            for f in decision.findings
        ],
        "orders": [
            {
                "symbol": o.symbol,
                "side": o.side.value,
                "quantity": _num(o.quantity),
                "reduce_only": o.reduce_only,
                "client_order_id": o.client_order_id,
                "rule_ids": list(o.rule_ids),
                "position_side": o.position_side.value,
                "order_type": o.order_type.value,
                "limit_price": _num(o.limit_price),
            }
            for o in planned.orders
        ],
        "skipped": [
            {
                "symbol": s.reduction.key.symbol,
                "side": s.reduction.key.side.value,
                "reason": s.reason,
            }
            for s in planned.skipped
        ],
        "alerts": [
            {"kind": a.kind, "severity": a.severity.value, "message": a.message, "symbol": a.symbol}
            for a in decision.alerts
        ],
        "notes": list(notes),
    }


def _print(document: dict[str, Any], markets: Mapping[str, MarketSpec]) -> None:
    """The document as tables: metrics by kind (metric_text), each order's quantity at its
    market's amount step and its limit at the market's tick."""
    console.print(
        f"[bold]{document['account']}[/] at {document['taken_at']} "
        f"(policies {document['policy_fingerprint']})",
        highlight=False,
    )
    metrics = Table(title="metrics")
    metrics.add_column("metric")
    metrics.add_column("value", justify="right")
    for name, value in document["metrics"].items():
        metrics.add_row(name, metric_text(name, None if value is None else Decimal(value)))
    console.print(metrics)
    if not document["findings"]:
        console.print("no findings: every rule is satisfied")
    for finding in document["findings"]:
        console.print(
            f"[{finding['severity']}] {finding['rule_id']}: {finding['reason']}",
            highlight=False,
            markup=False,
        )
    orders = Table(title="planned orders (reduce-only, not sent)")
    for column in ("symbol", "side", "quantity", "type", "limit", "client id", "rules"):
        orders.add_column(column)
    for order in document["orders"]:
        market = markets.get(order["symbol"])
        limit = order["limit_price"]
        orders.add_row(
            order["symbol"],
            order["side"],
            market_quantity(Decimal(order["quantity"]), market),
            order["order_type"],
            "-" if limit is None else market_price(Decimal(limit), market),
            order["client_order_id"],
            ", ".join(order["rule_ids"]),
        )
    console.print(orders)
    for skipped in document["skipped"]:
        console.print(f"skipped {skipped['symbol']} {skipped['side']}: {skipped['reason']}")
    for alert in document["alerts"]:
        errors.print(f"alert: {alert['message']}", highlight=False, markup=False)
    for note in document["notes"]:
        errors.print(f"note: {note}", highlight=False, markup=False)
