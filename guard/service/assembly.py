"""How the runner builds the service's parts from guard.yaml: paper venues (replayed on wall-clock
time, or resumed from its state file), ccxt and dry-run gateways, rail settings, the notifier."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, cast

from guard.core.rails import BreakerLimits, SanityBounds
from guard.core.yaml_model import ConfigError, Problem
from guard.gateway.base import Gateway
from guard.gateway.dryrun import DryRunGateway
from guard.gateway.paper.path import IndexedPricePath, shifted_path
from guard.gateway.paper.scenarios import scenario as load_scenario
from guard.gateway.paper.state import restore_paper_state
from guard.gateway.paper.venue import PaperVenue
from guard.gateway.paper.wallclock import WallClockPaper, load_paper_file
from guard.service.config import AccountConfig, GuardConfig
from guard.service.notify import Notifier, unusable, usable
from guard.service.service_base import RailSettings


def wall_clock() -> datetime:
    return datetime.now(UTC)


def gateway_for(base: Gateway, dry_run: bool) -> Gateway:
    """`base`, or in dry-run `base` wrapped so that no write can ever reach the venue."""
    return cast(Gateway, DryRunGateway(base)) if dry_run else base


def _paper_book(account: AccountConfig, now: datetime) -> tuple[PaperVenue, Any, datetime]:
    """The account's paper venue (resumed from its state file when one exists), the saved file
    (or None) and the scenario's end on the shifted clock."""
    try:
        chosen = load_scenario(account.scenario, account.seed)
    except KeyError as error:
        raise ValueError(str(error).strip("'\"")) from None
    saved = load_paper_file(account.state_file) if account.state_file is not None else None
    origin = datetime.fromisoformat(saved["origin"]) if saved else now
    delta = origin - (chosen.start + account.start)
    moved = replace(
        chosen,
        path=IndexedPricePath.of(shifted_path(chosen.path, delta)),  # O(log n) price look-ups
        funding={s: tuple((t + delta, r) for t, r in v) for s, v in chosen.funding.items()},
    )
    venue = moved.venue((account.name,))
    end = moved.end if account.until is None else min(moved.end, moved.start + account.until)
    if saved:
        restore_paper_state(venue, saved["venue"])
    else:
        venue.advance_to(origin)
    return venue, saved, end


def read_paper(account: AccountConfig, now: datetime) -> PaperVenue:
    """The paper account's book as its service last saved it (its state file), never written:
    for reports. Without a state file: the scenario at its start."""
    return _paper_book(account, now)[0]


def build_paper(account: AccountConfig, now: datetime) -> WallClockPaper:
    """The account's scenario replayed so that its start (plus `start`) is `now`, or resumed
    from its state file when one exists."""
    venue, saved, end = _paper_book(account, now)
    driver = WallClockPaper(
        venue,
        speed=account.speed,
        end=end,
        origin=datetime.fromisoformat(saved["origin"]) if saved else now,
        state_file=account.state_file,
        latency=account.latency,
        received=list(saved["received"]) if saved else [],
    )
    driver.save()
    return driver


def rail_settings(config: GuardConfig) -> RailSettings:
    service = config.service
    b = service.breakers
    return RailSettings(
        staleness=service.staleness,
        breakers=BreakerLimits(
            b.window,
            b.max_orders_per_account,
            b.max_notional_per_account,
            b.max_orders_global,
            b.max_notional_global,
        ),
        sanity=SanityBounds(service.sanity.position_jump, service.sanity.equity_jump),
    )


def notifier_for(config: GuardConfig) -> Notifier:
    """The alert sender; a URL whose variable or file is missing, or that apprise refuses, is a
    ConfigError naming file, line and field."""
    alerts = config.service.alerts
    urls: list[str] = []
    problems: list[Problem] = []
    for index, ref in enumerate(alerts.urls):
        where = ("service", "alerts", "urls", index)
        try:
            url = ref if isinstance(ref, str) else ref.resolve()
        except ValueError as error:
            problems.append(config.problem(where, str(error)))
            continue
        if not usable(url):
            problems.append(config.problem(where, unusable(url)))
        urls.append(url)
    if problems:
        raise ConfigError(problems)
    return Notifier(urls, alerts.dedup.total_seconds(), alerts.max_per_minute)


def ccxt_gateway(
    venue: str,
    accounts: list[AccountConfig],
    base_url: str | None = None,
    clock: Callable[[], datetime] = wall_clock,
) -> Gateway:
    """One ccxt gateway for `accounts` of `venue`; with `base_url` every API url goes there."""
    from guard.gateway.ccxt import AccountConfig, CcxtGateway, Credentials, GatewaySettings

    configs = [
        AccountConfig(
            a.name,
            venue,
            Credentials(
                env={k: ref.env for k, ref in a.credentials.items() if ref.env is not None},
                files={
                    k: str(ref.file) for k, ref in a.credentials.items() if ref.file is not None
                },
            ),
        )
        for a in accounts
    ]
    # the gateway's read times and shared-data ages run on the service's clock
    return CcxtGateway(venue, configs, settings=GatewaySettings(api_base=base_url), clock=clock)
