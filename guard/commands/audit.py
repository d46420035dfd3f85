"""`guard audit tail|show|verify|export`: read and check the append-only audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from guard.commands.common import console, fail, open_store, print_json
from guard.store import StoredEvent


def _event_json(event: StoredEvent) -> dict[str, object]:
    return {
        "id": event.id,
        "at": event.at.isoformat(),
        "kind": event.kind,
        "account": event.account,
        "symbol": event.symbol,
        "rule_id": event.rule_id,
        "tick_id": event.tick_id,
        "fingerprint": event.fingerprint,
        "actor": event.actor,
        "client_order_id": event.client_order_id,
        "message": event.message,
        "payload": event.payload,
        "hash": event.hash,
    }


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
        db: Annotated[str | None, typer.Option(help="database path or URL")] = None,
        json_output: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    ) -> None:
        """The newest audit events, oldest first."""
        if n <= 0:
            fail(f"-n must be positive, got {n}")
        since_at = None
        if since is not None:
            try:
                since_at = datetime.fromisoformat(since.replace("Z", "+00:00"))
            except ValueError:
                fail(f"--since must be an ISO-8601 time like 2024-08-05T00:00Z, got {since!r}")
            if since_at.utcoffset() is None:
                fail(f"--since needs a time zone (append Z for UTC), got {since!r}")
        events = open_store(db, create=True).tail(n, account, kind, since_at)
        if json_output:
            print_json([_event_json(e) for e in events])
            return
        table = Table(show_lines=False)
        for column in ("id", "at", "kind", "account", "symbol", "rule", "message"):
            table.add_column(column, overflow="fold")
        for e in events:
            table.add_row(
                str(e.id),
                e.at.strftime("%Y-%m-%d %H:%M:%S"),
                e.kind,
                e.account or "",
                e.symbol or "",
                e.rule_id or "",
                e.message,
            )
        console.print(table)

    @audit.command()
    def show(
        event_id: Annotated[int, typer.Argument(help="audit event id")],
        db: Annotated[str | None, typer.Option(help="database path or URL")] = None,
    ) -> None:
        """One audit event in full, as JSON."""
        found = open_store(db, create=True).event(event_id)
        if found is None:
            fail(f"no audit event with id {event_id}", 1)
        print_json(_event_json(found))

    @audit.command()
    def verify(
        db: Annotated[str | None, typer.Option(help="database path or URL")] = None,
    ) -> None:
        """Check the hash chain: exit 0 when intact, 1 naming the first bad row."""
        ok, bad_id, message = open_store(db, create=True).verify_chain()
        if ok:
            console.print(f"audit log intact: {message}")
            return
        fail(f"audit log broken at row {bad_id}: {message}", 1)
