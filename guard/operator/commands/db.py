"""`guard db upgrade|current`, and the helpers every operator command uses to open a migrated
database, name the actor and read times."""

from __future__ import annotations

import getpass
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated

import typer

from guard.core.markets import MarketRefused, resolve_market
from guard.operator.commands.common import (
    EXIT_NOT_MIGRATED,
    UnsureChange,
    changing,
    console,
    errors,
    fail,
    open_store,
    print_json,
)
from guard.store import SchemaNotReady, Store, StoreError, UnknownAccount

DbOption = Annotated[
    str | None,
    typer.Option(help="database path or URL (default: GUARD_DATABASE_URL, else var/guard.db)"),
]
ActorOption = Annotated[
    str | None, typer.Option(help="who is acting (default: the OS user), kept in the audit log")
]


def ready_store(db: str | None) -> Store:
    """The store at `db`, refusing (exit 3, saying what to run) unless it is fully migrated."""
    store = open_store(db)
    try:
        store.require_migrated()
    except SchemaNotReady as error:
        fail(str(error), EXIT_NOT_MIGRATED)
    return store


def now() -> datetime:
    return datetime.now(UTC)


def actor_name(actor: str | None) -> str:
    if actor is not None:
        if not actor.strip():
            fail("--actor must not be empty")
        return actor.strip()
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "operator"


def known_account(store: Store, account: str) -> None:
    """Exit 2 for an account no service registered; warn when none is registered yet."""
    try:
        warning = store.check_account(account)
    except UnknownAccount as error:
        fail(str(error))
    if warning is not None:
        errors.print(f"[yellow]warning:[/] {warning}", highlight=False)


def known_market(
    store: Store, account: str, market: str, also: Sequence[str] = (), *, strict: bool = True
) -> str:
    """The one market of `account` that `market` names (SOL, SOLUSDT, SOL/USDT:USDT), or exit 2
    with the markets the service has seen on that account (and `also`, e.g. locked markets).

    Before the service has reported any market of the account, only a full unified symbol
    (BASE/QUOTE:SETTLE) is taken, with a warning; `strict` off: an unresolved name is kept."""
    known = [*store.account_markets(account), *also]
    found = resolve_market(market, known)
    if not isinstance(found, MarketRefused):
        return found
    if not known and "/" in market and ":" in market:
        errors.print(
            f"[yellow]warning:[/] no market of {account!r} seen yet; taking {market!r} as written",
            highlight=False,
        )
        return market.strip()
    if not strict:
        return market
    if not known:
        fail(
            f"market {market!r} cannot be resolved: no market of account {account!r} seen yet "
            "(the service records them on its first tick); write it in full, e.g. "
            "BTC/USDT:USDT, or lock the whole account"
        )
    fail(f"{found.message} on account {account!r}")


def refuse(error: StoreError, code: int = 2) -> None:
    fail(str(error), code)


def register(app: typer.Typer) -> None:
    db_app = typer.Typer(help="Create and migrate the database.", no_args_is_help=True)
    app.add_typer(db_app, name="db")

    @db_app.command()
    def upgrade(
        db: DbOption = None,
        revision: Annotated[str, typer.Option(help="target revision")] = "head",
    ) -> None:
        """Migrate the database to the newest schema (creates it when empty)."""
        store = open_store(db)
        before = store.current_revision()
        unsure = "the migration may or may not have been applied (see `guard db current`)"
        try:
            with changing(unsure):
                after = store.upgrade(revision)
        except UnsureChange:  # the database was lost: one line, exit 4 (guard.operator.cli)
            raise
        except Exception as error:  # alembic/SQL errors: report, never a traceback
            fail(f"migration of {store.where} failed: {type(error).__name__}: {error}", 1)
        if before == after:
            console.print(f"{store.where}: already at {after}")
        else:
            console.print(f"{store.where}: upgraded {before or '(empty)'} -> {after}")

    @db_app.command()
    def current(
        db: DbOption = None,
        json_output: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    ) -> None:
        """The database's schema revision and the code's; exit 1 when they differ."""
        store = open_store(db)
        at = store.current_revision()
        head = store.head_revision()
        if json_output:
            print_json({"database": store.where, "current": at, "head": head})
        else:
            console.print(f"{store.where}: at {at or '(empty, never migrated)'}; code head {head}")
        if at != head:
            if not json_output:
                errors.print("run `guard db upgrade` to migrate", highlight=False)
            raise SystemExit(1)
