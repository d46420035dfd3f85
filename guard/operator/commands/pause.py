"""`guard pause|resume|pauses`: hold the guard back through a local pause file that the running
service watches; needs no database, so it works during a database outage (unlike `guard lock`)."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from guard.core.markets import MarketRefused, resolve_market
from guard.core.pause import Pause, parse_pause_file, without
from guard.core.policy.units import format_duration
from guard.core.yaml_model import ConfigError
from guard.operator.commands.common import console, errors, fail
from guard.operator.commands.db import ActorOption, actor_name, now
from guard.operator.commands.lock import _expiry, _reason
from guard.service.config import load_config
from guard.service.pause_file import pause_path, write_pauses
from guard.service.pause_markets import KnownMarkets, known_markets

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        help="the service's guard.yaml: its pause file (default $GUARD_CONFIG, guard.yaml)"
    ),
]
PauseFileOption = Annotated[
    Path | None, typer.Option("--pause-file", help="the pause file itself (overrides --config)")
]


def locate(config: Path | None, pause_file: Path | None) -> Path:
    """--pause-file, else the pause file of --config / $GUARD_CONFIG / ./guard.yaml."""
    if pause_file is not None:
        return pause_file
    path = config or Path(os.environ.get("GUARD_CONFIG", "guard.yaml"))
    if not path.exists():
        fail(f"{path}: no such service configuration; give --config or --pause-file")
    try:
        return pause_path(load_config(path), path)
    except ConfigError as error:
        fail(f"cannot find the pause file: {error}")


def resolved_market(
    config: Path | None,
    pause_file: Path | None,
    account: str,
    market: str,
    also: tuple[str, ...] = (),
) -> str:
    """The one market of `account` that `market` names as a trader writes it (SOL, SOLUSDT,
    SOL/USDT:USDT), from what is known with or without the database (the service's last tick,
    the known file beside the journal, a paper scenario) and `also`; else exit 2 with the list.
    Nothing known: only a full unified symbol is taken, with a warning."""
    path = config
    if path is None and pause_file is None:
        path = Path(os.environ.get("GUARD_CONFIG", "guard.yaml"))
    known = KnownMarkets((), "no service configuration (--config) to look them up")
    if path is not None and path.exists():
        try:
            known = known_markets(load_config(path), path, account)
        except ConfigError as error:
            fail(f"cannot read the service configuration: {error}")
    markets = (*known.markets, *also)
    found = resolve_market(market, markets)
    if not isinstance(found, MarketRefused):
        return found
    if not markets and "/" in market and ":" in market:
        errors.print(
            f"[yellow]warning:[/] no market of {account!r} known ({known.source}); "
            f"taking {market!r} as written",
            highlight=False,
        )
        return market.strip()
    if not markets:
        fail(
            f"market {market!r} cannot be resolved: no market of account {account!r} known "
            f"({known.source}); write it in full, e.g. BTC/USDT:USDT, or pause the whole account"
        )
    fail(f"{found.message} on account {account!r} (markets from {known.source})")


def current(path: Path, at: datetime) -> tuple[Pause, ...]:
    """The pauses in `path`; a malformed file is refused (fix or remove it by hand)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ()
    except OSError as error:
        fail(f"{path}: cannot read the pause file: {error.strerror or error}")
    found = parse_pause_file(text, at)
    if found.problem is not None:
        fail(
            f"{path}: malformed pause file ({found.problem}); the service treats it as a pause "
            "of every account: fix or delete it by hand"
        )
    return found.pauses


def active_pauses(config: Path | None, pause_file: Path | None) -> list[str]:
    """For `guard status`: each active pause described, or why the file is not trusted; nothing
    when no pause file can be located (no --config/--pause-file and no ./guard.yaml)."""
    if pause_file is None and config is None:
        default = Path(os.environ.get("GUARD_CONFIG", "guard.yaml"))
        if not default.exists():
            return []
    path = locate(config, pause_file)
    at = now()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except OSError as error:
        return [f"pause file {path} unreadable ({error.strerror or error}): every account paused"]
    return [p.describe(str(path)) for p in parse_pause_file(text, at).active(at)]


def register(app: typer.Typer) -> None:
    @app.command()
    def pause(
        reason: Annotated[str | None, typer.Option(help="why (required, audited)")] = None,
        account: Annotated[str | None, typer.Option(help="pause one account")] = None,
        market: Annotated[
            str | None,
            typer.Option(help="pause one market of --account, as you write it (SOL, SOLUSDT)"),
        ] = None,
        for_: Annotated[
            str | None, typer.Option("--for", help="end after e.g. 30m, 2h, 1d")
        ] = None,
        until: Annotated[str | None, typer.Option(help="end at an ISO-8601 time")] = None,
        actor: ActorOption = None,
        config: ConfigOption = None,
        pause_file: PauseFileOption = None,
    ) -> None:
        """Hold back the guard's orders on all accounts, one account or one market, through the
        pause file the running service watches (works with the database down).

        The service's egress gate holds back every order a pause covers, like a lock; the
        service audits and alerts the pause when it first sees it and when it ends. Local: only
        the services that read this file see it (each replica its own pause_file unless they
        share one); the console's pause and `guard lock` are a lock in the database instead."""
        why = _reason(reason, "a pause")
        if market is not None and account is None:
            fail("--market needs --account (a market pause is per account)")
        who = actor_name(actor)
        path = locate(config, pause_file)
        at = now()
        until_at = _expiry(for_, until, at)
        if market is not None and account is not None:
            market = resolved_market(config, pause_file, account, market)
        kept = tuple(p for p in current(path, at) if p.is_active(at))
        added = Pause(why, who, at, until_at, account, market)
        write_pauses(path, (*kept, added))
        span = f" for {format_duration(until_at - at)}" if until_at is not None else ""
        console.print(
            f"set {added.describe(str(path))}{span}", highlight=False, markup=False, soft_wrap=True
        )

    @app.command()
    def resume(
        account: Annotated[str | None, typer.Option(help="end this account's pause")] = None,
        market: Annotated[str | None, typer.Option(help="end this market's pause")] = None,
        config: ConfigOption = None,
        pause_file: PauseFileOption = None,
    ) -> None:
        """End the pauses of --account [--market] (none given: every pause)."""
        if market is not None and account is None:
            fail("--market needs --account")
        path = locate(config, pause_file)
        at = now()
        found = current(path, at)
        if market is not None and account is not None:
            paused = tuple(p.market for p in found if p.account == account and p.market)
            market = resolved_market(config, pause_file, account, market, paused)
        kept, removed = without(found, account, market, at)
        if not removed:
            fail(f"no such pause in {path} (see `guard pauses`)", 1)
        if kept:
            write_pauses(path, kept)
        else:
            path.unlink(missing_ok=True)
        for item in removed:
            console.print(
                f"ended {item.describe(str(path))}", highlight=False, markup=False, soft_wrap=True
            )

    @app.command()
    def pauses(config: ConfigOption = None, pause_file: PauseFileOption = None) -> None:
        """The active pauses in the pause file."""
        path = locate(config, pause_file)
        at = now()
        active = [p for p in current(path, at) if p.is_active(at)]
        if not active:
            console.print(
                f"no active pause ({path})", highlight=False, markup=False, soft_wrap=True
            )
        for item in active:
            console.print(item.describe(str(path)), highlight=False, markup=False, soft_wrap=True)
