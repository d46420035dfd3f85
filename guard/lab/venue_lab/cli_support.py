"""What `guard venue-lab` needs beyond the server: the lab accounts from `--account` options,
the scenario moved so it starts now (payload times read as current), and the serve-until-stopped
loop. Not pure (clock, sockets, signals)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from guard.gateway.paper.path import IndexedPricePath, shifted_path
from guard.gateway.paper.scenarios import Scenario
from guard.lab.venue_lab import ACCOUNT_MODES, VENUES, LabAccount, VenueLab, build_lab

DEFAULT_SECRET = "lab-secret"


def parse_account(text: str) -> LabAccount:
    """`venue:key:paper[:secret[:passphrase]]` (e.g. binance:lab-bn:bn:lab-secret) → LabAccount;
    append `:hedge` for a hedge-mode account and `:mode=VALUE` for an account mode (e.g.
    `:mode=PORTFOLIO_MARGIN` on Bybit). ValueError names the option and what is right."""
    parts = text.split(":")
    mode = None
    if parts[-1].startswith("mode="):
        mode = parts.pop()[len("mode=") :]
    hedge = parts[-1] == "hedge"
    if hedge:
        parts = parts[:-1]
    if len(parts) < 3 or parts[0] not in VENUES or not parts[1] or not parts[2]:
        raise ValueError(
            f"--account {text!r}: expected VENUE:KEY:PAPER[:SECRET[:PASSPHRASE]][:hedge]"
            f"[:mode=MODE] with venue one of {', '.join(sorted(VENUES))}"
        )
    if mode is not None and mode not in ACCOUNT_MODES[parts[0]]:
        raise ValueError(
            f"--account {text!r}: {parts[0]} has no account mode {mode!r}; one of "
            f"{', '.join(ACCOUNT_MODES[parts[0]]) or 'none'}"
        )
    secret = parts[3] if len(parts) > 3 else None
    passphrase = parts[4] if len(parts) > 4 else None
    return LabAccount(parts[0], parts[1], parts[2], secret, passphrase, hedge, mode)


def default_accounts() -> list[LabAccount]:
    """One account per served venue, each its own paper account (key lab-<venue>)."""
    return [LabAccount(v, f"lab-{v}", f"lab-{v}", DEFAULT_SECRET) for v in sorted(VENUES)]


def starting_now(chosen: Scenario, now: datetime) -> Scenario:
    delta = now - chosen.start
    return replace(
        chosen,
        path=IndexedPricePath.of(shifted_path(chosen.path, delta)),
        funding={s: tuple((t + delta, r) for t, r in v) for s, v in chosen.funding.items()},
    )


def make_lab(chosen: Scenario, accounts: list[LabAccount], port: int, speed: Decimal) -> VenueLab:
    return build_lab(starting_now(chosen, datetime.now(UTC)), accounts, port=port, speed=speed)


async def serve(lab: VenueLab, ready: asyncio.Event | None = None) -> None:
    """Serve until SIGINT/SIGTERM (or cancellation)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    await lab.start()
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        await lab.stop()
