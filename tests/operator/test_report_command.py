"""`guard report funding|stress|shadow` on a paper account resumed from its state file (read,
never written); figures computed by hand in the comments."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from guard.core.domain import MarginMode, OrderPlan, OrderSide, Side
from guard.service.assembly import build_paper
from guard.service.config import load_config
from guard.service.files import load_policies
from guard.store import Store
from tests.builders import D
from tests.operator.conftest import run

BTC = "BTC/USDT:USDT"
ORIGIN = datetime(2026, 1, 5, tzinfo=UTC)
# A flat BTC at 60 000 (no noise, no drift); hourly funding +0.01 % for 3 h, then -0.02 %.
SCENARIO = """
name: flat-funding
description: flat BTC, funding turning negative
tick: 5m
noise: "0%"
symbols:
  BTC/USDT:USDT: {start: 60000}
drift:
  - {minutes: 600, per_minute: "0%"}
funding:
  - {hours: 3, rate: "0.01%"}
  - {hours: 3, rate: "-0.02%"}
collateral: 10000
positions:
  - {symbol: BTC/USDT:USDT, side: long, quantity: 1, leverage: 5x}
"""
POLICY = """
version: 1
name: reports
rules:
  - {id: carry, kind: funding_threshold, threshold: "175.2%", annualised: true}
"""


def setup(tmp_path: Path, dry_run: bool = False) -> Path:
    (tmp_path / "flat.yaml").write_text(SCENARIO)
    (tmp_path / "policy.yaml").write_text(POLICY)
    config = tmp_path / "guard.yaml"
    config.write_text(
        "version: 1\n"
        f"service: {{database_url: 'sqlite:///{tmp_path / 'g.db'}'}}\n"
        "accounts:\n"
        "  - {name: p, venue: paper, scenario: flat.yaml, policies: [policy.yaml],"
        f" state_file: state.json, dry_run: {str(dry_run).lower()}}}\n"
    )
    account = load_config(config).accounts[0]
    driver = build_paper(account, ORIGIN)  # what `guard run` saves as it goes
    driver.inner.advance_to(ORIGIN + timedelta(hours=3, minutes=30))
    driver.save()
    return config


def test_funding_when_paper_account_then_paid_next_and_year_by_hand(tmp_path: Path) -> None:
    config = setup(tmp_path)
    before = (tmp_path / "state.json").read_text()
    ran = run(
        "report", "funding", "--config", str(config), "--since", "2026-01-05T00:00Z", "--json"
    )
    assert ran.code == 0, ran.text
    (doc,) = json.loads(ran.raw.stdout)["reports"]
    (row,) = doc["positions"]
    # 1 BTC x 60 000 x 0.0001 paid at 1h, 2h and 3h: 18; next (4h) -0.0002: receives 12
    assert D(row["paid_since"]) == D(18) and row["payments"] == 3
    assert D(row["next_payment"]) == D(-12)
    # hourly market: -0.0002 x 8 760 = -1.752 a year (received); the rule's 175.2 % a year is
    # 0.0002 per hour: headroom 0.0002 - (-0.0002) = 0.0004
    assert row["interval_hours"] == 1.0
    assert D(row["paid_per_year"]) == D("-1.752")
    assert D(row["funding_rules"][0]["headroom"]) == D("0.0004")
    assert (tmp_path / "state.json").read_text() == before  # a report never writes the book


def test_funding_when_text_then_table_with_totals(tmp_path: Path) -> None:
    ran = run("report", "funding", "--config", str(setup(tmp_path)), "--since", "2026-01-05T00:00Z")
    assert ran.code == 0, ran.text
    assert "paid since 2026-01-05 00:00 UTC: 18.00" in ran.out
    assert "next payment -12.00" in ran.out


def test_stress_when_paper_long_then_minus_20_liquidates_the_cross_pool(tmp_path: Path) -> None:
    ran = run("report", "stress", "--config", str(setup(tmp_path)), "--json")
    assert ran.code == 0, ran.text
    shocks = {s["name"]: s for s in json.loads(ran.raw.stdout)["reports"][0]["shocks"]}
    # wallet 10 000 - 18 funding = 9 982; 1 BTC long at 60 000:
    # -10 %: equity 9 982 - 6 000 = 3 982 vs mm 54 000 x 0.5 % - 50 = 220: survives
    # -20 %: 9 982 - 12 000 = -2 018: the cross pool (BTC) liquidates; +x %: a long only gains
    assert shocks["all -10%"]["liquidated"] == []
    assert D(shocks["all -10%"]["equity"]) == D(3982)
    assert shocks["all -20%"]["liquidated"] == [f"{BTC}:long"]
    assert all(shocks[f"all +{m}%"]["liquidated"] == [] for m in (10, 20, 30))


def test_shadow_when_dry_run_account_then_saved_at_todays_mark(tmp_path: Path, db: str) -> None:
    config = setup(tmp_path, dry_run=True)
    store = Store(db)
    # the guard would have sold 0.5 BTC when the mark was 66 000; it is 60 000 now:
    # +1 x (66 000 - 60 000) x 0.5 = +3 000 saved
    plan = OrderPlan(
        "p", BTC, OrderSide.SELL, D("0.5"), Side.LONG, MarginMode.CROSS, "dry-1",
        limit_price=D(64680), rule_ids=("ladder",), steps=("ladder|b0",), reference_price=D(66000),
    )  # fmt: skip
    store.admit("p", [plan], ORIGIN, tick_id="t1", fingerprint=None, actor="guard", dry_run=True, state=None)  # fmt: skip
    store.dispose()
    ran = run("report", "shadow", "--config", str(config), "--json", "--db", db)
    assert ran.code == 0, ran.text
    (doc,) = json.loads(ran.raw.stdout)["reports"]
    (order,) = doc["orders"]
    assert (D(order["price"]), order["price_basis"], D(order["saved"])) == (
        D(66000),
        "mark",
        D(3000),
    )
    text = run("report", "shadow", "--config", str(config), "--db", db)
    assert "would have saved 3000.00" in text.out


def test_shadow_when_no_dry_run_account_then_clear_error(tmp_path: Path) -> None:
    ran = run("report", "shadow", "--config", str(setup(tmp_path)))
    assert ran.code == 2
    assert "no dry-run account" in ran.err


def test_report_when_account_unknown_then_names_the_accounts(tmp_path: Path) -> None:
    ran = run("report", "stress", "--config", str(setup(tmp_path)), "--account", "nope")
    assert ran.code == 2 and "no account named 'nope'; accounts: p" in ran.err


def test_report_when_paper_account_has_no_state_then_says_what_it_shows(tmp_path: Path) -> None:
    config = setup(tmp_path)
    (tmp_path / "state.json").unlink()
    ran = run("report", "stress", "--config", str(config), "--json")
    assert ran.code == 0 and "has no saved state" in ran.err


def test_stress_when_chart_asked_then_png_written(tmp_path: Path) -> None:
    out = tmp_path / "charts" / "stress.png"
    ran = run("report", "stress", "--config", str(setup(tmp_path)), "--chart", str(out))
    assert ran.code == 0, ran.text
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000


LADDER = """
version: 1
name: drawdown
rules:
  - id: dd
    kind: exit_ladder
    metric: drawdown_pct
    bands:
      - {trigger: "5%", reduce: "25%"}
      - {trigger: "15%", reduce: "25%"}
    rearm: "1%"
"""


def test_stress_when_the_service_took_a_ladder_step_then_only_the_next_one_is_planned(
    tmp_path: Path, db: str
) -> None:
    import asyncio

    from guard.core.domain import GuardState
    from guard.core.engine import evaluate
    from guard.core.venues.paper import RULES
    from guard.service.assembly import read_paper

    config = setup(tmp_path)
    (tmp_path / "policy.yaml").write_text(LADDER)
    account = load_config(config).accounts[0]
    snapshot = asyncio.run(read_paper(account, ORIGIN).fetch_snapshot("p"))
    # the running guard's last tick: equity 9 982 against a 10 600 peak is a 5.8 % drawdown,
    # band 1 (5 %) fired on 1 BTC; that memory is in the service's database
    peak = GuardState(equity_peaks=((snapshot.taken_at - timedelta(hours=1), D(10600)),))
    memory = evaluate(snapshot, load_policies([tmp_path / "policy.yaml"]), peak, RULES).next_state
    store = Store(db)
    store.record_tick("p", "t-1", snapshot.taken_at, memory, {}, [])
    store.dispose()

    def first_orders(database: str) -> list[D]:
        ran = run("report", "stress", "--config", str(config), "--json", "--db", database)
        assert ran.code == 0, ran.text
        (report,) = json.loads(ran.raw.stdout)["reports"]
        memories.append(report["rule_memory"])
        shocks = {s["name"]: s for s in report["shocks"]}
        return [D(o["quantity"]) for o in shocks["all -10%"]["guard_orders"]]

    memories: list[str] = []

    # -10 %: equity 3 982, drawdown 62 % from 10 600: bands 1 and 2 both reached; the live
    # memory has band 1 taken: 25 % of 1 BTC is left to sell first, not 50 %
    assert first_orders(db) == [D("0.25")]
    fresh = f"sqlite:///{tmp_path / 'never-run.db'}"
    assert first_orders(fresh) == [D("0.5")]  # no guard ran there: a fresh memory
    assert memories == [
        "the live rule memory: 1 open episode(s), 1 step(s) already taken",
        "a fresh rule memory",
    ]


def test_stress_when_the_service_database_does_not_exist_then_fresh_memory_said_not_created(
    tmp_path: Path,
) -> None:
    config = setup(tmp_path)  # its service database, g.db, was never created
    ran = run("report", "stress", "--config", str(config), "--json")
    assert ran.code == 0, ran.text
    assert "does not exist (no guard has run on it)" in ran.err
    assert not (tmp_path / "g.db").exists()  # a report never creates the service's database
