"""`guard audit tail|show|verify|anchor|export` on a real database, including detected tampering."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from guard.core.audit import AuditEvent, EventKind, evaluation_message
from guard.store import Store
from guard.store.anchor_sink import append_anchor
from tests.operator.conftest import run
from tests.store.tamper import drop_append_only_guards, execute

T0 = datetime(2024, 8, 5, tzinfo=UTC)


def seed(store: Store) -> list[int]:
    ids: list[int] = []
    for index, (kind, account) in enumerate(
        [
            (EventKind.EVALUATION, "main"),
            (EventKind.FINDING, "main"),
            (EventKind.ALERT, "alt"),
            (EventKind.FINDING, "alt"),
            (EventKind.ERROR, "main"),
        ]
    ):
        ids += store.audit(
            [
                AuditEvent(
                    kind,
                    f"event {index}",
                    account=account,
                    rule_id="liq-buffer",
                    payload={"value": "0.0123456789"},
                )
            ],
            T0 + timedelta(minutes=index),
        )
    return ids


def tail_json(*args: str) -> list[dict[str, object]]:
    ran = run("audit", "tail", "--json", *args)
    assert ran.code == 0, ran.text
    parsed: list[dict[str, object]] = json.loads(ran.raw.stdout)
    return parsed


def test_audit_tail_when_filtered_then_only_matching_newest_events_oldest_first(
    db: str, store: Store
) -> None:
    ids = seed(store)
    assert [e["id"] for e in tail_json("--db", db)] == ids
    assert [e["id"] for e in tail_json("-n", "2", "--db", db)] == ids[-2:]
    assert [e["id"] for e in tail_json("--account", "alt", "--db", db)] == ids[2:4]
    assert [e["id"] for e in tail_json("--kind", "finding", "--db", db)] == [ids[1], ids[3]]
    since = (T0 + timedelta(minutes=3)).isoformat()
    assert [e["id"] for e in tail_json("--since", since, "--db", db)] == ids[3:]
    table = run("audit", "tail", "--db", db)
    assert table.code == 0 and "event 4" in table.out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-n", "0"], "-n must be positive"),
        (["--kind", "findings"], "unknown --kind 'findings'"),
        (["--since", "yesterday"], "--since must be an ISO-8601 time"),
        (["--since", "2024-08-05T00:00"], "needs a time zone"),
    ],
)
def test_audit_tail_when_input_bad_then_exit_2(db: str, args: list[str], message: str) -> None:
    ran = run("audit", "tail", *args, "--db", db)
    assert ran.code == 2 and message in ran.err


def test_audit_show_when_id_known_then_full_event_else_exit_1(db: str, store: Store) -> None:
    ids = seed(store)
    ran = run("audit", "show", str(ids[1]), "--db", db)
    assert ran.code == 0
    shown = json.loads(ran.raw.stdout)
    assert (shown["kind"], shown["payload"], shown["rule_id"]) == (
        "finding",
        {"value": "0.0123456789"},
        "liq-buffer",
    )
    missing = run("audit", "show", "999", "--db", db)
    assert missing.code == 1 and "no audit event with id 999" in missing.err


def test_audit_verify_when_intact_then_exit_0(db: str, store: Store) -> None:
    seed(store)
    ran = run("audit", "verify", "--db", db)
    assert ran.code == 0
    assert "audit log intact: 5 rows in 2 chain(s), 0 anchor(s) checked, intact" in ran.out


def test_audit_verify_when_a_row_is_edited_then_exit_1_naming_it(db: str, store: Store) -> None:
    ids = seed(store)
    drop_append_only_guards(store)
    execute(store, "UPDATE audit_events SET account = 'other' WHERE id = :id", id=ids[2])
    ran = run("audit", "verify", "--db", db)
    assert ran.code == 1
    assert f"audit log broken at row {ids[2]}" in ran.err and "edited" in ran.err


def test_audit_verify_when_a_row_is_deleted_then_exit_1_naming_the_next_of_its_chain(
    db: str, store: Store
) -> None:
    ids = seed(store)
    drop_append_only_guards(store)
    execute(store, "DELETE FROM audit_events WHERE id = :id", id=ids[1])
    ran = run("audit", "verify", "--db", db)
    assert ran.code == 1
    assert f"audit log broken at row {ids[4]}: chain main: row {ids[4]}" in ran.err
    assert "deleted" in ran.err


def test_audit_anchor_when_run_then_verify_counts_it_and_catches_a_cut_tail(
    db: str, store: Store
) -> None:
    ids = seed(store)
    ran = run("audit", "anchor", "--actor", "ops", "--db", db)
    assert ran.code == 0 and "written over 2 chain(s)" in ran.out
    (anchor,) = store.tail(1, kind="anchor")
    assert (anchor.chain, anchor.actor) == ("@service", "ops")
    verified = run("audit", "verify", "--db", db)
    assert verified.code == 0
    assert "6 rows in 3 chain(s), 1 anchor(s) checked, intact" in verified.out
    drop_append_only_guards(store)
    execute(store, "DELETE FROM audit_events WHERE id = :id", id=ids[4])  # main's tip
    broken = run("audit", "verify", "--db", db)
    assert broken.code == 1
    assert f"audit log broken at row {ids[4]}: chain main: row {ids[4]}" in broken.err
    assert f"anchor #{anchor.id}" in broken.err and "tail was cut off" in broken.err


def test_audit_export_when_jsonl_then_one_event_per_line_in_id_order(db: str, store: Store) -> None:
    ids = seed(store)
    ran = run("audit", "export", "--format", "jsonl", "--db", db)
    assert ran.code == 0
    lines = [json.loads(line) for line in ran.raw.stdout.splitlines()]
    assert [line["id"] for line in lines] == ids
    assert lines[1]["prev_hash"] == lines[0]["hash"]


def test_audit_export_when_csv_to_file_then_header_and_rows(
    db: str, store: Store, tmp_path: Path
) -> None:
    ids = seed(store)
    out = tmp_path / "audit.csv"
    ran = run("audit", "export", "--format", "csv", "--out", str(out), "--db", db)
    assert ran.code == 0 and f"exported 5 events to {out}" in ran.out
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["id"]) for r in rows] == ids
    assert json.loads(rows[0]["payload"]) == {"value": "0.0123456789"}
    assert rows[0]["at"] == T0.isoformat()


def test_audit_export_when_format_unknown_then_exit_2(db: str) -> None:
    ran = run("audit", "export", "--format", "xml", "--db", db)
    assert ran.code == 2 and "xml" in ran.err


def test_audit_tail_when_quiet_evaluations_then_hidden_unless_all_or_kind_evaluation(
    db: str, store: Store
) -> None:
    rows = [
        (EventKind.EVALUATION, evaluation_message("main", 1, 0, 0)),  # quiet: a warning only
        (EventKind.EVALUATION, evaluation_message("main", 2, 1, 1)),  # a decision
        (EventKind.FINDING, "liquidation buffer breached"),
        (EventKind.INTENT, "reduce-only sell 0.3 BTC/USDT:USDT"),
        (EventKind.EVALUATION, evaluation_message("main", 0, 0, 0)),  # quiet
        (EventKind.LOCK_SET, "lock set"),
    ]
    ids = [
        store.audit([AuditEvent(kind, message, account="main")], T0 + timedelta(minutes=i))[0]
        for i, (kind, message) in enumerate(rows)
    ]
    assert [e["id"] for e in tail_json("--db", db)] == [ids[1], ids[2], ids[3], ids[5]]
    assert [e["id"] for e in tail_json("--all", "--db", db)] == ids
    assert [e["id"] for e in tail_json("--kind", "evaluation", "--db", db)] == [
        ids[0],
        ids[1],
        ids[4],
    ]
    table = run("audit", "tail", "--db", db)
    assert "lock set" in table.out and "0 breach(es), 0 order(s)" not in table.out


def test_archive_when_old_rows_then_file_written_and_both_verify(
    db: str, store: Store, tmp_path: Path
) -> None:
    seed(store)
    store.audit([AuditEvent(EventKind.ALERT, "new", account="main")], T0 + timedelta(days=2))
    out = tmp_path / "old.jsonl.gz"
    archived = run(
        "audit", "archive", "--before", "2024-08-06T00:00Z", "--out", str(out), "--db", db
    )
    assert archived.code == 0, archived.text
    assert "archived 4 row(s) of 2 chain(s)" in archived.text  # "alt"'s last row stays
    assert run("audit", "verify", "--db", db).code == 0
    offline = run("audit", "verify", "--archive", str(out))
    assert offline.code == 0 and "archive intact: 4 rows" in offline.text
    again = run("audit", "archive", "--before", "2024-08-06T00:00Z", "--out", str(out), "--db", db)
    assert again.code != 0 and "nothing archived" in again.text


def test_verify_with_anchor_copy_when_the_last_anchor_is_cut_off_then_exit_1(
    db: str, store: Store, tmp_path: Path
) -> None:
    seed(store)
    sink = tmp_path / "anchors.jsonl"
    append_anchor(sink, store.anchor(T0))
    ran = run("audit", "verify", "--db", db, "--anchors", str(sink))
    assert ran.code == 0 and "every anchor in" in ran.out
    anchor_id = store.events_of_kind("anchor")[0].id
    drop_append_only_guards(store)
    # the newest anchor is the tip of @service: cutting it off leaves every chain verifying...
    execute(store, "DELETE FROM audit_events WHERE id = :id", id=anchor_id)
    assert run("audit", "verify", "--db", db).code == 0
    # ...but not the copy outside the database
    broken = run("audit", "verify", "--db", db, "--anchors", str(sink))
    assert broken.code == 1 and f"anchor #{anchor_id} is not in the database" in broken.text
