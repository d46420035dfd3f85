"""`guard audit tail|show|verify|anchor|archive|export`: read, check, anchor and archive the
append-only audit log."""

from __future__ import annotations

import csv
import json
import sys
from contextlib import ExitStack
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.table import Table

from guard.core.audit import EventKind
from guard.operator.commands.common import console, fail, parse_time, print_json
from guard.operator.commands.db import ActorOption, DbOption, actor_name, now, ready_store
from guard.operator.console.views import event_json as _event_json
from guard.store.anchor_sink import check_anchor_file
from guard.store.audit_archive import ROW_FIELDS, verify_archive_file

EXPORT_COLUMNS = ROW_FIELDS


class ExportFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


def _write_export(events: Any, fmt: ExportFormat, out: TextIO) -> int:
    count = 0
    if fmt is ExportFormat.CSV:
        writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS)
        writer.writeheader()
        for event in events:
            row = _event_json(event)
            row["payload"] = json.dumps(event.payload, sort_keys=True)
            writer.writerow(row)
            count += 1
        return count
    for event in events:
        out.write(json.dumps(_event_json(event), sort_keys=False) + "\n")
        count += 1
    return count


def register(app: typer.Typer) -> None:
    audit = typer.Typer(help="Read and verify the audit log.", no_args_is_help=True)
    app.add_typer(audit, name="audit")

    @audit.command()
    def tail(
        n: Annotated[int, typer.Option("-n", help="how many events")] = 20,
        account: Annotated[str | None, typer.Option(help="only this account")] = None,
        kind: Annotated[str | None, typer.Option(help="only this event kind")] = None,
        since: Annotated[
            str | None, typer.Option(help="ISO-8601 time, e.g. 2024-08-05T00:00Z")
        ] = None,
        db: DbOption = None,
        json_output: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
        everything: Annotated[
            bool, typer.Option("--all", help="also quiet evaluations (nothing breached or planned)")
        ] = False,
    ) -> None:
        """The newest audit events, oldest first: what the guard did (decisions, findings, intents,
        orders, holds, locks, errors); quiet evaluations only with --all or --kind evaluation."""
        if n <= 0:
            fail(f"-n must be positive, got {n}")
        if kind is not None and kind not in {k.value for k in EventKind}:
            fail(f"unknown --kind {kind!r}; kinds: {', '.join(k.value for k in EventKind)}")
        since_at = parse_time(since, "--since") if since is not None else None
        hide_quiet = not everything and kind is None
        events = ready_store(db).tail(n, account, kind, since_at, hide_quiet=hide_quiet)
        if json_output:
            print_json([_event_json(e) for e in events])
            return
        table = Table(show_lines=False)
        for column in ("id", "at", "kind", "account", "symbol", "rule", "actor", "message"):
            table.add_column(column, overflow="fold")
        for e in events:
            table.add_row(
                str(e.id),
                e.at.strftime("%Y-%m-%d %H:%M:%S"),
                e.kind,
                e.account or "",
                e.symbol or "",
                e.rule_id or "",
                e.actor,
                e.message,
            )
        console.print(table)

    @audit.command()
    def show(
        event_id: Annotated[int, typer.Argument(help="audit event id")],
        db: DbOption = None,
    ) -> None:
        """One audit event in full, as JSON."""
        found = ready_store(db).event(event_id)
        if found is None:
            fail(f"no audit event with id {event_id}", 1)
        print_json(_event_json(found))

    @audit.command()
    def verify(
        db: DbOption = None,
        archive: Annotated[
            Path | None,
            typer.Option(help="verify this archive file offline instead (no database needed)"),
        ] = None,
        anchors: Annotated[
            Path | None,
            typer.Option(
                help="also compare the anchors with this copy (service.audit_anchor_file)"
            ),
        ] = None,
    ) -> None:
        """Check every hash chain and every anchor: exit 0 when intact, 1 naming the chain and
        the first bad row. With --archive, check a `guard audit archive` file on its own."""
        if archive is not None:
            checked = verify_archive_file(archive)
            if not checked.ok:
                fail(f"archive broken: {checked.problem}", 1)
            console.print(f"archive intact: {checked.rows} rows chain from their recorded bases")
            return
        store = ready_store(db)
        ok, bad_id, message = store.verify_chain()
        if ok and anchors is not None:
            try:
                problems = check_anchor_file(anchors, store.events_of_kind(EventKind.ANCHOR.value))
            except OSError as error:
                fail(f"cannot read {anchors}: {error.strerror}")
            if problems:
                fail("audit anchors differ from their copy: " + "; ".join(problems[:5]), 1)
            message += f"; every anchor in {anchors} matches"
        if ok:
            console.print(f"audit log intact: {message}")
            return
        fail(f"audit log broken at row {bad_id}: {message}", 1)

    @audit.command()
    def anchor(db: DbOption = None, actor: ActorOption = None) -> None:
        """Anchor every chain's tip now (an `anchor` event on @service): a chain cut below it,
        or deleted after it, is then reported by `guard audit verify`."""
        written = ready_store(db).anchor(now(), actor=actor_name(actor))
        chains = written.payload["chains"]
        console.print(
            f"anchor #{written.id} written over {len(chains)} chain(s): {written.payload['digest']}"
        )

    @audit.command()
    def archive(
        before: Annotated[str, typer.Option(help="archive rows older than this (ISO time, UTC)")],
        out: Annotated[Path, typer.Option(help="the gzip JSONL file to write (never overwritten)")],
        db: DbOption = None,
        actor: ActorOption = None,
    ) -> None:
        """Move each chain's rows older than --before (never a chain's last row) to a compressed
        JSONL file with their hashes, then delete them; `guard audit verify` still checks what
        remains, and `guard audit verify --archive FILE` checks the file offline."""
        cutoff = parse_time(before, "--before")
        try:
            done = ready_store(db).archive_audit(cutoff, out, actor=actor_name(actor), at=now())
        except (FileExistsError, OSError) as error:
            fail(f"nothing archived: {error}")
        console.print(
            f"archived {done.rows} row(s) of {len(done.chains)} chain(s) to {done.path} "
            f"(sha256 {done.sha256})"
        )

    @audit.command()
    def export(
        fmt: Annotated[
            ExportFormat, typer.Option("--format", help="jsonl (one event per line) or csv")
        ] = ExportFormat.JSONL,
        out: Annotated[Path | None, typer.Option(help="write here instead of stdout")] = None,
        db: DbOption = None,
    ) -> None:
        """Every audit event in id order, with its hashes (for archiving or analysis)."""
        store = ready_store(db)
        with ExitStack() as stack:
            target: TextIO = sys.stdout
            if out is not None:
                try:
                    target = stack.enter_context(out.open("w", encoding="utf-8", newline=""))
                except OSError as error:
                    fail(f"cannot write {out}: {error.strerror}")
            count = _write_export(store.events(), fmt, target)
        if out is not None:
            console.print(f"exported {count} events to {out}")
