"""`guard pause|resume|pauses` and the pause file: written atomically beside the journal (or where
service.pause_file says), no database needed, malformed files refused, shown by `guard status`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from guard.store import AccountInfo, Store
from guard.store.journal_known import Known, known_path, save_known
from tests.operator.conftest import run
from tests.service.helpers import POLICY

DOWN = "postgresql+psycopg://postgres@127.0.0.1:1/guard"


def config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "guard.yaml"
    path.write_text(
        f"version: 1\nservice:\n  database_url: {DOWN}\n{extra}"
        f"accounts:\n  - {{name: main, venue: paper, policies: [{POLICY}]}}\n"
    )
    return path


def test_pause_when_journal_configured_then_file_beside_it_and_scoped_resume(
    tmp_path: Path,
) -> None:
    cfg = config(tmp_path, "  journal: state/guard.journal.jsonl\n")
    where = tmp_path / "state" / "guard.pause.json"
    ran = run("pause", "--reason", "hedge", "--account", "main", "--for", "30m",
              "--config", str(cfg))  # fmt: skip
    assert ran.code == 0, ran.text
    assert "pause of account main" in ran.out and "for 30m" in ran.out
    assert run("pause", "--reason", "all", "--config", str(cfg)).code == 0
    saved = json.loads(where.read_text())
    assert saved["format"] == 1 and [p["account"] for p in saved["pauses"]] == ["main", None]
    assert [p.name for p in where.parent.iterdir()] == ["guard.pause.json"]  # no temp left
    listed = run("pauses", "--config", str(cfg))
    assert "pause of account main" in listed.out and "pause of every account" in listed.out
    assert run("resume", "--account", "main", "--config", str(cfg)).code == 0
    left = json.loads(where.read_text())["pauses"]
    assert [p["account"] for p in left] == [None]
    assert run("resume", "--account", "main", "--config", str(cfg)).code == 1
    assert run("resume", "--config", str(cfg)).code == 0 and not where.exists()


def test_pause_when_bad_input_then_exit_2_naming_the_problem(tmp_path: Path) -> None:
    cfg = config(tmp_path, f"  pause_file: {tmp_path / 'p.json'}\n")
    assert "needs --reason" in run("pause", "--config", str(cfg)).err
    assert (
        "--market needs --account"
        in run("pause", "--reason", "r", "--market", "BTC", "--config", str(cfg)).err
    )
    assert run("pause", "--reason", "r", "--for", "0s", "--config", str(cfg)).code == 2
    missing = run("pause", "--reason", "r", "--config", str(tmp_path / "nope.yaml"))
    assert missing.code == 2 and "nope.yaml" in missing.err


def test_pause_file_malformed_when_paused_again_then_refused_and_file_left_alone(
    tmp_path: Path,
) -> None:
    where = tmp_path / "p.json"
    where.write_text("{half")
    ran = run("pause", "--reason", "r", "--pause-file", str(where))
    assert ran.code == 2 and "malformed pause file" in ran.err and str(where) in ran.err
    assert where.read_text() == "{half"
    assert run("resume", "--pause-file", str(where)).code == 2


def test_status_when_pause_active_then_shown_under_the_table(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'guard.db'}"
    store = Store(db)
    store.create_schema()
    store.register_accounts([AccountInfo("main", "paper", False, Decimal(5))], datetime.now(UTC))
    store.dispose()
    where = tmp_path / "p.json"
    assert run("pause", "--reason", "drill", "--pause-file", str(where)).code == 0
    ran = run("status", "--db", db, "--pause-file", str(where))
    assert ran.code == 0 and "paused: pause of every account" in ran.out and "drill" in ran.out


def test_run_when_database_unreachable_at_start_then_one_stderr_line_and_exit_4(
    tmp_path: Path,
) -> None:
    ran = run("run", "--config", str(config(tmp_path)))
    lines = ran.raw.stderr.strip().splitlines()
    assert ran.code == 4 and len(lines) == 1, ran.raw.stderr
    assert "database unreachable" in lines[0] and "Connection refused" in lines[0]
    assert "guard run needs it to start" in lines[0]


def test_pause_market_when_database_down_then_resolved_from_known_file_or_refused_with_list(
    tmp_path: Path,
) -> None:
    cfg = config(tmp_path, "  journal: state/guard.journal.jsonl\n")
    known = known_path(tmp_path / "state" / "guard.journal.jsonl")
    known.parent.mkdir()
    save_known(
        known, Known(markets={"main": ["SOL/USDT:USDT", "BTC/USDT:USDT"]}), datetime.now(UTC)
    )
    where = tmp_path / "state" / "guard.pause.json"
    ran = run(
        "pause", "--reason", "r", "--account", "main", "--market", "sol", "--config", str(cfg)
    )
    assert ran.code == 0, ran.err
    assert [p["market"] for p in json.loads(where.read_text())["pauses"]] == ["SOL/USDT:USDT"]
    refused = run("pause", "--reason", "r", "--account", "main", "--market", "DOGE",
                  "--config", str(cfg))  # fmt: skip
    assert refused.code == 2
    assert "BTC/USDT:USDT, SOL/USDT:USDT" in refused.err and str(known) in refused.err
    ended = run("resume", "--account", "main", "--market", "SOLUSDT", "--config", str(cfg))
    assert ended.code == 0 and "SOL/USDT:USDT" in ended.out


def test_pause_market_when_database_up_then_resolved_from_the_markets_it_recorded(
    tmp_path: Path,
) -> None:
    db = tmp_path / "guard.db"
    store = Store(f"sqlite:///{db}")
    store.create_schema()
    store.register_accounts([AccountInfo("main", "paper", False, Decimal(5))], datetime.now(UTC))
    store.record_markets("main", ["ETH/USDT:USDT", "BTC/USDT:USDT"])
    store.dispose()
    cfg = tmp_path / "guard.yaml"
    cfg.write_text(config(tmp_path).read_text().replace(DOWN, f"sqlite:///{db}"))
    ran = run("pause", "--reason", "r", "--account", "main", "--market", "ethusdt",
              "--config", str(cfg))  # fmt: skip
    assert ran.code == 0, ran.err
    saved = json.loads((tmp_path / "guard.pause.json").read_text())["pauses"]
    assert [p["market"] for p in saved] == ["ETH/USDT:USDT"]


def test_pause_market_when_nothing_known_then_only_a_full_symbol_taken(tmp_path: Path) -> None:
    where = tmp_path / "p.json"
    short = run("pause", "--reason", "r", "--account", "main", "--market", "SOL",
                "--pause-file", str(where))  # fmt: skip
    assert short.code == 2 and "cannot be resolved" in short.err and not where.exists()
    full = run("pause", "--reason", "r", "--account", "main", "--market", "SOL/USDT:USDT",
               "--pause-file", str(where))  # fmt: skip
    assert full.code == 0 and "taking 'SOL/USDT:USDT' as written" in full.err


def test_help_when_read_then_file_pause_and_database_lock_told_apart() -> None:
    pause = " ".join(run("pause", "--help").out.split())
    lock = " ".join(run("lock", "--help").out.split())
    assert "only the services that read this file" in pause and "lock in the database" in pause
    assert "every replica sees it" in lock and "console's pause is the global" in lock
