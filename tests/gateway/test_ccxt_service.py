"""Ticks through guard.service.tick on the replayed Binance venue: dry-run sends nothing and audits
what it would have placed; canary credentials appear in no cassette, log line or audit row."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import ccxt.async_support as ccxt
import pytest

from guard.core.venues.registry import rules_for
from guard.gateway.dryrun import DryRunGateway
from guard.service import AccountRuntime, GuardService
from guard.service.files import load_policies
from guard.store import Store
from tests.gateway.cases import CANARIES, CANARY_KEY, CASES, CASSETTES, RECORDED_AT
from tests.gateway.helpers import gateway_for, replay

ROOT = Path(__file__).resolve().parents[2]
CASE = CASES["binance"]


DISTANCE_LADDER = """\
version: 1
rules:
  - id: liquidation-ladder
    kind: exit_ladder
    metric: liquidation_distance
    bands:
      - {trigger: "12%", reduce: "25%"}
      - {trigger: "8%", reduce: "25%"}
    rearm: "20%"
"""


def clock() -> datetime:
    return RECORDED_AT  # the venue's time in the cassettes (payload times are not stale)


def service(
    store: Store, gateway: Any, *, dry_run: bool, policy: Path = ROOT / "policies" / "default.yaml"
) -> GuardService:
    runtime = AccountRuntime(
        name=CASE.account,
        rules=rules_for("binance"),
        gateway=gateway,
        policies=load_policies([policy]),
        dry_run=dry_run,
    )
    return GuardService(store=store, accounts={CASE.account: runtime}, clock=clock)


def audit_text(store: Store) -> str:
    return "\n".join(
        f"{e.kind} {e.message} {json.dumps(e.payload, default=str)}" for e in store.events()
    )


async def test_tick_when_dry_run_and_breached_then_zero_writes_and_audit_shows_would_place(
    sqlite_store: Store, tmp_path: Path
) -> None:
    gateway, wire = gateway_for("binance")
    dry = DryRunGateway(gateway)
    # the recorded position breaches a 12 % distance ladder (the former default) but not the
    # default's progress ladder; the distance ladder exercises the would-place path
    acting = tmp_path / "distance.yaml"
    acting.write_text(DISTANCE_LADDER, encoding="utf-8")
    guard = service(sqlite_store, dry, dry_run=True, policy=acting)
    try:
        with replay("binance", "snapshot"):
            report = await guard.tick(CASE.account)
    finally:
        await gateway.close()
    assert report.error is None, report.error
    assert report.plan is not None and report.plan.orders  # the breach planned orders
    assert wire.writes() == [] and gateway.write_calls == 0  # nothing reached the venue
    would = [e for e in sqlite_store.events() if e.kind == "order_would_place"]
    assert len(would) == len(report.plan.orders)
    for event, order in zip(would, report.plan.orders, strict=True):
        assert event.client_order_id == order.client_order_id
        assert event.symbol == "BTC/USDT:USDT"
        assert order.side.value == "sell" and order.reduce_only


async def test_canary_when_cassettes_logs_and_audit_are_scanned_then_absent(
    sqlite_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    for cassette in sorted(CASSETTES.glob("*.yaml")):
        text = cassette.read_text()
        assert not [c for c in CANARIES if c in text], cassette.name
    gateway, _ = gateway_for("binance")
    client = gateway.client(CASE.account)
    echoed = {"left": 1}
    original = client.fetch_balance

    async def fetch_balance(*args: Any, **kwargs: Any) -> Any:
        # a venue echoing the key back in an error must not leak it into logs or audit rows
        if echoed["left"]:
            echoed["left"] -= 1
            raise ccxt.AuthenticationError(
                f'binanceusdm {{"code":-2015,"msg":"Invalid API-key {CANARY_KEY}, IP, or perms"}}'
            )
        return await original(*args, **kwargs)

    client.fetch_balance = fetch_balance
    guard = service(sqlite_store, gateway, dry_run=True)
    try:
        with (
            caplog.at_level(logging.DEBUG),
            caplog.at_level(logging.DEBUG, logger="ccxt.base.exchange"),  # header dumps on
            replay("binance", "snapshot"),
        ):
            failed = await guard.tick(CASE.account)
            guard.accounts[CASE.account].disabled_reason = None  # operator re-enabled it
            passed = await guard.tick(CASE.account)
    finally:
        await gateway.close()
    assert failed.error is not None and "***" in failed.error
    assert passed.error is None
    logged = caplog.text + "\n".join(str(r.args) for r in caplog.records)
    audited = audit_text(sqlite_store)
    assert "Invalid API-key ***" in audited  # the error row is there, redacted
    assert "'X-MBX-APIKEY': '***'" in caplog.text  # ccxt's request dump, scrubbed
    for canary in CANARIES:
        assert canary not in logged
        assert canary not in audited
        assert canary not in (failed.error or "")
