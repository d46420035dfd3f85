"""`guard token create|revoke|list`: console tokens (HTTP API, web page); the secret is printed
once at creation and only its sha256 is stored."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from guard.operator.commands.common import changing, console, fail, print_json
from guard.operator.commands.db import ActorOption, DbOption, actor_name, now, ready_store
from guard.store import InvalidRequest, Scope


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Console tokens for the HTTP API and web page.", no_args_is_help=True)
    app.add_typer(group, name="token")

    @group.command()
    def create(
        name: Annotated[str, typer.Option(help="who or what holds it (unique, audited)")],
        scope: Annotated[
            Scope, typer.Option(help="read: look only; operate: also lock, flatten, reload")
        ] = Scope.READ,
        actor: ActorOption = None,
        db: DbOption = None,
    ) -> None:
        """Issue a token and print its secret once (only its hash is stored)."""
        store = ready_store(db)
        try:
            with changing("the token may or may not have been created (see `guard token list`)"):
                token, secret = store.create_token(
                    name=name, scope=scope, actor=actor_name(actor), at=now()
                )
        except InvalidRequest as error:
            fail(str(error))
        console.print(
            f"token {token.name!r} ({token.scope.value}) created; its secret, shown only now:",
            highlight=False,
        )
        typer.echo(secret)

    @group.command()
    def revoke(
        name: Annotated[str, typer.Argument(help="the token's name")],
        actor: ActorOption = None,
        db: DbOption = None,
    ) -> None:
        """Revoke a token: it is refused from the next request on."""
        store = ready_store(db)
        try:
            with changing("the token may or may not have been revoked (see `guard token list`)"):
                token = store.revoke_token(name, actor=actor_name(actor), at=now())
        except InvalidRequest as error:
            fail(str(error), 1)
        console.print(f"token {token.name!r} revoked", highlight=False)

    @group.command("list")
    def list_tokens(
        json_output: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
        db: DbOption = None,
    ) -> None:
        """Every token ever issued (names and scopes; secrets are never stored)."""
        found = ready_store(db).tokens()
        if json_output:
            print_json(
                [
                    {
                        "name": t.name,
                        "scope": t.scope.value,
                        "created_at": t.created_at,
                        "created_by": t.created_by,
                        "revoked_at": t.revoked_at,
                        "revoked_by": t.revoked_by,
                    }
                    for t in found
                ]
            )
            return
        table = Table(title="console tokens")
        for column in ("name", "scope", "created (UTC)", "by", "revoked"):
            table.add_column(column, overflow="fold")
        for t in found:
            revoked = f"{t.revoked_at:%m-%d %H:%M} by {t.revoked_by}" if t.revoked_at else ""
            table.add_row(
                t.name, t.scope.value, f"{t.created_at:%m-%d %H:%M}", t.created_by, revoked
            )
        console.print(table)
