"""Metrics worth alerting on: per-account risk gauges labelled by account, a Grafana dashboard and
Prometheus alert rules that parse and name only metrics the service exports, and /health degraded
by a failed reload or a disabled account."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

from guard.gateway.base import PermanentError
from guard.service.metrics import Health, Metrics
from guard.service.runner import Runner
from guard.store import Store
from tests.service.helpers import ACCOUNT, POLICY, ROOT, rig

GRAFANA = ROOT / "deploy" / "grafana" / "guard.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gauge": ("",),
}


def _gauges(metrics: Metrics) -> dict[tuple[str, str], float]:
    found = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            if sample.name.startswith("guard_account_"):
                found[(sample.name, sample.labels["account"])] = sample.value
    return found


async def test_tick_when_account_evaluated_then_risk_gauges_labelled_by_account(
    sqlite_store: Store,
) -> None:
    r = rig(sqlite_store)
    sqlite_store.set_lock(reason="test", actor="t", at=datetime.now(UTC), account=ACCOUNT)
    report = await r.run_until_orders()
    assert report.decision is not None and r.service.metrics is not None
    summary = report.decision.metrics
    gauges = _gauges(r.service.metrics)
    assert gauges[("guard_account_equity", ACCOUNT)] == float(summary["equity"] or 0)
    assert gauges[("guard_account_margin_ratio", ACCOUNT)] == float(summary["margin_ratio"] or 0)
    distance = summary["worst_liquidation_distance"]
    assert distance is not None and Decimal(0) < distance < Decimal("0.2")
    assert gauges[("guard_account_worst_liquidation_distance", ACCOUNT)] == float(distance)
    assert gauges[("guard_account_locks", ACCOUNT)] == 1
    assert gauges[("guard_account_dry_run", ACCOUNT)] == 0
    assert gauges[("guard_account_disabled", ACCOUNT)] == 0


async def test_tick_when_permanent_error_then_disabled_gauge_and_health_degraded(
    sqlite_store: Store,
) -> None:
    r = rig(sqlite_store, dry_run=True)
    await r.tick()

    async def refused(account: str) -> object:
        raise PermanentError("paper: invalid API key (test)")

    r.venue.fetch_snapshot = refused  # type: ignore[method-assign,assignment]
    await r.tick()
    assert r.service.metrics is not None
    gauges = _gauges(r.service.metrics)
    assert gauges[("guard_account_disabled", ACCOUNT)] == 1
    assert gauges[("guard_account_dry_run", ACCOUNT)] == 1
    assert ("guard_account_equity", ACCOUNT) in gauges  # the last reading stays
    ok, reasons = r.service.health.status()
    assert not ok and any("permanent error" in why for why in reasons)


GOOD = """
version: 1
service:
  database_url: sqlite:///{db}
  create_schema: true
accounts:
  - name: sim
    venue: paper
    policies: [{policy}]
"""


async def test_reload_when_config_broken_then_health_degraded_until_a_good_reload(
    tmp_path: Path,
) -> None:
    config = tmp_path / "guard.yaml"
    good = GOOD.format(db=tmp_path / "guard.db", policy=POLICY)
    config.write_text(good)
    runner = Runner(config, install_signals=False)
    try:
        assert runner.health.status() == (True, [])
        config.write_text(good.replace("venue: paper", "venue: nowhere"))
        assert await runner.reload() is False
        ok, reasons = runner.health.status()
        assert not ok and any(why.startswith("@service: reload of") for why in reasons)
        config.write_text(good)
        assert await runner.reload() is True
        assert runner.health.status() == (True, [])
    finally:
        runner.store.dispose()


def _exported_names() -> set[str]:
    metrics = Metrics(Health())
    names = set()
    for family in metrics.registry.collect():
        names.update(family.name + suffix for suffix in SUFFIXES[family.type])
    return names


def _referenced(expressions: list[str]) -> set[str]:
    return {name for e in expressions for name in re.findall(r"\bguard_[a-z0-9_]+", e)}


def test_dashboard_when_parsed_then_every_metric_it_queries_is_exported() -> None:
    dashboard = json.loads(GRAFANA.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    exprs += [v["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    used = _referenced(exprs)
    exported = _exported_names()
    assert {"guard_account_margin_ratio", "guard_account_worst_liquidation_distance"} <= used
    assert used <= exported, sorted(used - exported)


def test_alert_rules_when_parsed_then_every_metric_they_use_is_exported() -> None:
    rules = [
        rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]
    ]
    assert all({"alert", "expr", "labels", "annotations"} <= set(rule) for rule in rules)
    assert {rule["labels"]["severity"] for rule in rules} <= {"info", "warning", "critical"}
    used = _referenced([str(rule["expr"]) for rule in rules])
    exported = _exported_names()
    assert {"guard_account_disabled", "guard_account_margin_ratio"} <= used
    assert used <= exported, sorted(used - exported)
