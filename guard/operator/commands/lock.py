"""`guard lock|unlock|locks`: human override locks (in the database) that hold the guard's actions
back; `guard pause` (guard.operator.commands.pause) is the file-based one that needs no database."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from guard.core.policy.units import format_duration, parse_duration
from guard.operator.commands.common import (
    changing,
    cli_actor,
    commands,
    console,
    fail,
    parse_time,
    print_json,
    refusing,
)
from guard.operator.commands.db import (
    ActorOption,
    DbOption,
    actor_name,
    known_account,
    known_market,
    now,
    ready_store,
)
from guard.operator.console.views import lock_json
from guard.store import Store, StoredLock

# The database was lost while a lock change was being saved: it may have been committed.
UNSURE_SET = "the lock may or may not have been set (see `guard locks` once the database is back)"
UNSURE_CLEAR = (
    "the lock may or may not have been cleared (see `guard locks` once the database is back)"
)


def _expiry(ttl: str | None, until: str | None, at: datetime) -> datetime | None:
    if ttl is not None and until is not None:
        fail("give either --ttl or --until, not both")
    if ttl is not None:
        try:
            span = parse_duration(ttl)
        except ValueError as error:
            fail(f"--ttl: {error}")
        if span.total_seconds() <= 0:
            fail(f"--ttl must be positive, got {ttl!r}")
        return at + span
    if until is not None:
        moment = parse_time(until, "--until")
        if moment <= at:
            fail(f"--until {until!r} is not in the future (now {at.isoformat()})")
        return moment
    return None


def _reason(reason: str | None, what: str) -> str:
    if reason is None or not reason.strip():
        fail(f"{what} needs --reason (why, for the audit log)")
    return reason.strip()


def _take(
    db: str | None,
    account: str | None,
    market: str | None,
    reason: str | None,
    ttl: str | None,
    until: str | None,
    actor: str | None,
) -> None:
    why = _reason(reason, "a lock")
    if market is not None and account is None:
        fail("--market needs --account (a market lock is per account)")
    who = actor_name(actor)
    store = ready_store(db)
    if account is not None:
        known_account(store, account)
        if market is not None:
            market = known_market(store, account, market)
    at = now()
    expires_at = _expiry(ttl, until, at)
    with changing(UNSURE_SET), refusing():
        taken = commands(store).lock(
            cli_actor(who), reason=why, account=account, market=market, expires_at=expires_at
        )
    lock = store.lock(int(taken["id"]))
    assert lock is not None
    span = f" for {format_duration(expires_at - at)}" if expires_at is not None else ""
    console.print(f"set {lock.describe()}{span}")


def _read_back(store: Store, done: list[dict[str, Any]]) -> list[StoredLock]:
    found = [store.lock(int(item["id"])) for item in done]
    return [item for item in found if item is not None]


def register(app: typer.Typer) -> None:
    @app.command()
    def lock(
        reason: Annotated[str | None, typer.Option(help="why (required, audited)")] = None,
        account: Annotated[str | None, typer.Option(help="lock one account")] = None,
        market: Annotated[str | None, typer.Option(help="lock one market of --account")] = None,
        ttl: Annotated[str | None, typer.Option(help="expire after e.g. 30m, 2h, 1d")] = None,
        until: Annotated[str | None, typer.Option(help="expire at an ISO-8601 time")] = None,
        actor: ActorOption = None,
        db: DbOption = None,
    ) -> None:
        """Hold back every guard action on all accounts, one account, or one market.

        A lock lives in the database: every replica sees it (the console's pause is the global
        lock). `guard pause` is the local pause file, for when the database is down.

        Exit 4 when the database is unreachable: the lock is NOT set then."""
        _take(db, account, market, reason, ttl, until, actor)

    @app.command()
    def unlock(
        lock_id: Annotated[int | None, typer.Argument(help="lock id (see `guard locks`)")] = None,
        account: Annotated[str | None, typer.Option(help="clear this account's lock")] = None,
        market: Annotated[str | None, typer.Option(help="clear this market's lock")] = None,
        reason: Annotated[str | None, typer.Option(help="why (optional, audited)")] = None,
        actor: ActorOption = None,
        db: DbOption = None,
    ) -> None:
        """Clear a lock by id, or the active locks of --account [--market]."""
        if (lock_id is None) == (account is None):
            fail("give a lock id or --account [--market], not both and not neither")
        if market is not None and account is None:
            fail("--market needs --account")
        who = actor_name(actor)
        store = ready_store(db)
        if account is not None:
            known_account(store, account)
        with changing(UNSURE_CLEAR), refusing():
            done = commands(store).unlock(
                cli_actor(who), lock_id=lock_id, account=account, market=market, reason=reason
            )
        cleared = _read_back(store, done)
        for item in cleared:
            console.print(f"cleared {item.describe()}")

    @app.command()
    def locks(
        all_locks: Annotated[
            bool, typer.Option("--all", help="include cleared and expired locks (history)")
        ] = False,
        json_output: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
        db: DbOption = None,
    ) -> None:
        """Active override locks (with --all: every lock ever taken)."""
        store = ready_store(db)
        at = now()
        found = store.locks(at, include_inactive=all_locks)
        if json_output:
            print_json([lock_json(item, at) for item in found])
            return
        if not found:
            console.print("no active locks" if not all_locks else "no locks ever taken")
            return
        table = Table(title="override locks")
        table.add_column("id", no_wrap=True)
        table.add_column("state", no_wrap=True)
        table.add_column("account", overflow="fold")
        table.add_column("market", overflow="fold")
        table.add_column("reason", overflow="fold", ratio=2)
        table.add_column("by", overflow="fold")
        table.add_column("since (UTC)", no_wrap=True)
        table.add_column("ends (UTC)", overflow="fold")
        for item in found:
            state = item.state(at)
            end = ""
            if item.cleared_at is not None:
                end = f"{item.cleared_at:%m-%d %H:%M}"
                if state == "cleared" and item.cleared_by:
                    end += f" by {item.cleared_by}"
            elif item.expires_at is not None:
                end = f"{item.expires_at:%m-%d %H:%M}"
            table.add_row(
                str(item.id),
                state,
                item.account or "(all)",
                item.market or "",
                item.reason,
                item.actor,
                f"{item.created_at:%m-%d %H:%M}",
                end,
            )
        console.print(table)
