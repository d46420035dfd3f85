"""`guard status`: per-account mode, tick age, metrics, breaches, pending work and locks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from guard.core.domain import GuardState
from guard.store import AccountInfo, Store
from tests.operator.conftest import run


def test_status_when_no_accounts_then_says_so(db: str) -> None:
    ran = run("status", "--db", db)
    assert ran.code == 0 and "no accounts yet" in ran.out
    assert json.loads(run("status", "--json", "--db", db).raw.stdout) == []


def test_status_when_accounts_ticked_and_locked_then_json_and_table_report_them(
    db: str, store: Store
) -> None:
    now = datetime.now(UTC)
    store.register_accounts(
        [
            AccountInfo("main", "binanceusdm", False, Decimal(5)),
            AccountInfo("paperacct", "paper", True, Decimal(5)),
        ],
        now,
    )
    store.record_tick(
        "main",
        "t1",
        now - timedelta(seconds=30),
        GuardState(),
        {
            "equity": Decimal("12345.678"),
            "margin_ratio": Decimal("0.4321"),
            "worst_liquidation_distance": Decimal("0.0789"),
            "open_breaches": 1,
        },
        [],
    )
    assert run("lock", "--account", "main", "--reason", "check", "--db", db).code == 0

    rows = {r["account"]: r for r in json.loads(run("status", "--json", "--db", db).raw.stdout)}

    main = rows["main"]
    assert (main["venue"], main["mode"], main["equity"], main["margin_ratio"]) == (
        "binanceusdm",
        "locked",
        "12345.678",
        "0.4321",
    )
    assert main["worst_liquidation_distance"] == "0.0789" and main["open_breaches"] == 1
    assert 29 <= main["tick_age_seconds"] < 120
    assert [lock["id"] for lock in main["active_locks"]] == [1]
    assert (rows["paperacct"]["mode"], rows["paperacct"]["last_tick_at"]) == ("dry-run", None)

    table = run("status", "--db", db)
    assert table.code == 0
    assert "main" in table.out and "locked" in table.out and "12345.68" in table.out
    assert "43.2%" in table.out and "never" in table.out
