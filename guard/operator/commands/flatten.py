"""`guard flatten`: a human-initiated reduce-only reduction, queued for the service, which carries it
out through the same planner and executor (exactly once, overriding locks, audited with the actor)."""

from __future__ import annotations

import time
from decimal import Decimal, InvalidOperation
from typing import Annotated

import typer

from guard.operator.commands.common import (
    changing,
    cli_actor,
    commands,
    console,
    errors,
    fail,
    refusing,
)
from guard.operator.commands.db import (
    ActorOption,
    DbOption,
    actor_name,
    known_account,
    known_market,
    ready_store,
)
from guard.store import RequestStatus

POLL_SECONDS = 0.5


def register(app: typer.Typer) -> None:
    @app.command()
    def flatten(
        account: Annotated[str | None, typer.Option(help="the account to reduce")] = None,
        market: Annotated[str | None, typer.Option(help="only this market (default: all)")] = None,
        fraction: Annotated[
            str, typer.Option(help="part of each position to close, in (0, 1]")
        ] = "1",
        reason: Annotated[str | None, typer.Option(help="why (required, audited)")] = None,
        yes: Annotated[
            bool, typer.Option("--yes", "-y", help="do not ask for confirmation")
        ] = False,
        wait: Annotated[
            float, typer.Option(help="seconds to wait for the service's outcome (0: do not wait)")
        ] = 30.0,
        actor: ActorOption = None,
        db: DbOption = None,
    ) -> None:
        """Reduce positions by hand: reduce-only, exactly once, even under a lock."""
        if account is None or not account.strip():
            fail("flatten needs --account")
        if reason is None or not reason.strip():
            fail("flatten needs --reason (why, for the audit log)")
        try:
            share = Decimal(fraction)
        except InvalidOperation:
            fail(f"--fraction must be a number in (0, 1], got {fraction!r}")
        if not share.is_finite() or not Decimal(0) < share <= 1:
            fail(f"--fraction must be in (0, 1], got {fraction!r}")
        if wait < 0:
            fail(f"--wait must be zero or positive, got {wait}")
        who = actor_name(actor)
        store = ready_store(db)
        known_account(store, account)
        if market is not None:
            market = known_market(store, account, market)
        target = market or "every position"
        what = f"close {share * 100:f}% of {target} on {account} (reduce-only), as {who}"
        if not yes and not typer.confirm(f"{what}?", default=False):
            console.print("not confirmed: nothing requested")
            raise SystemExit(1)
        unsure = (
            "the flatten may or may not have been requested (see "
            f"`guard audit tail --account {account}` once the database is back)"
        )
        layer = commands(store)
        with changing(unsure), refusing():  # the typer prompt above was the confirmation step
            first = layer.flatten(
                cli_actor(who), account=account, market=market, fraction=str(share), reason=reason
            )
            queued_request = layer.flatten(
                cli_actor(who),
                account=account,
                market=market,
                fraction=str(share),
                reason=reason,
                confirm=str(first["confirm"]),
            )
        request_id = int(queued_request["request_id"])
        console.print(f"flatten #{request_id} requested: {what}")
        deadline = time.monotonic() + wait
        queued = (
            f"flatten #{request_id} was requested and is queued; the service carries it out once "
            f"it can read the database (follow it with `guard audit tail --account {account}`)"
        )
        while True:
            with changing(queued):
                request = store.request(request_id)
            assert request is not None
            if request.status is not RequestStatus.PENDING:
                console.print(f"flatten #{request_id} {request.status.value}: {request.outcome}")
                if request.status is RequestStatus.FAILED:
                    raise SystemExit(1)
                return
            if time.monotonic() >= deadline:
                break
            time.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))
        errors.print(
            f"flatten #{request_id} is queued: the service carries it out on {account}'s next "
            f"tick (follow it with `guard audit tail --account {account}`)",
            highlight=False,
        )
