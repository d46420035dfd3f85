"""Prometheus metrics of the service (per-account risk gauges to alert on: equity, margin ratio,
worst liquidation distance, covering locks, dry-run, disabled; per-venue rate-limit cool-downs)
and its health endpoint (ok, or degraded with reasons), served by guard.service.web."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

# An account whose last successful tick is older than this many poll intervals (plus a second
# of scheduling slack) is not being guarded: /health says so.
STALLED_INTERVALS = 2
STALL_SLACK = 1.0
SERVICE_HEALTH = "@service"  # the health key of what concerns the whole service (a failed reload)


@dataclass(slots=True)
class Health:
    """Per-account reasons for being degraded; ok when there are none."""

    clock: Callable[[], float] = time.monotonic
    reasons: dict[str, dict[str, str]] = field(default_factory=dict)  # account -> key -> why
    # venue -> seconds of its rate-limit cool-down left (a gateway's cooldown_remaining)
    cooldowns: dict[str, Callable[[], float]] = field(default_factory=dict)
    last_success: dict[str, float] = field(default_factory=dict)
    intervals: dict[str, float] = field(default_factory=dict)

    def degrade(self, account: str, key: str, why: str) -> None:
        self.reasons.setdefault(account, {})[key] = why

    def recover(self, account: str, key: str) -> None:
        self.reasons.get(account, {}).pop(key, None)

    def succeeded(self, account: str) -> None:
        self.last_success[account] = self.clock()

    def status(self) -> tuple[bool, list[str]]:
        now = self.clock()
        found = [
            f"{account}: {why}"
            for account in sorted(self.reasons)
            for why in self.reasons[account].values()
        ]
        for venue, remaining in sorted(self.cooldowns.items()):
            left = remaining()
            if left > 0:
                found.append(
                    f"venue {venue}: rate-limit cool-down, {left:.0f} s left (Retry-After):"
                    " no request reaches it until then"
                )
        for account, interval in sorted(self.intervals.items()):
            last = self.last_success.get(account)
            limit = STALLED_INTERVALS * interval + STALL_SLACK
            if last is not None and now - last > limit:
                found.append(
                    f"{account}: no successful tick for {now - last:.1f}s "
                    f"(poll interval {interval:g}s): not guarding"
                )
        return (not found, found)


class _SuccessAge(Collector):
    def __init__(self, health: Health) -> None:
        self.health = health

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "guard_last_success_age_seconds",
            "Seconds since the last successful tick of each account",
            labels=["account"],
        )
        now = self.health.clock()
        for account, last in sorted(self.health.last_success.items()):
            family.add_metric([account], now - last)
        yield family


class _Cooldowns(Collector):
    def __init__(self, health: Health) -> None:
        self.health = health

    def collect(self) -> Iterator[GaugeMetricFamily]:
        active = GaugeMetricFamily(
            "guard_venue_cooldown_active",
            "1 while the venue is in a rate-limit cool-down (HTTP 429/418, Retry-After)",
            labels=["venue"],
        )
        left = GaugeMetricFamily(
            "guard_venue_cooldown_seconds",
            "Seconds of the venue's rate-limit cool-down left (0: none)",
            labels=["venue"],
        )
        for venue, remaining in sorted(self.health.cooldowns.items()):
            seconds = remaining()
            active.add_metric([venue], 1.0 if seconds > 0 else 0.0)
            left.add_metric([venue], seconds)
        yield active
        yield left


@dataclass(slots=True)
class AccountRisk:
    """The latest risk reading of one account (None: not known yet, e.g. no snapshot so far)."""

    equity: Decimal | None = None
    margin_ratio: Decimal | None = None
    worst_liquidation_distance: Decimal | None = None
    locks: int = 0
    dry_run: bool = False
    disabled: bool = False


# gauge name -> (help, how to read it off an AccountRisk)
ACCOUNT_GAUGES: dict[str, tuple[str, Callable[[AccountRisk], Decimal | int | bool | None]]] = {
    "guard_account_equity": (
        "Account equity in its settlement currency at the last evaluated snapshot",
        lambda r: r.equity,
    ),
    "guard_account_margin_ratio": (
        "Maintenance margin / equity at the last evaluated snapshot (1 = liquidation)",
        lambda r: r.margin_ratio,
    ),
    "guard_account_worst_liquidation_distance": (
        "Smallest distance of any position's mark to its liquidation price (fraction, 0.05 = 5%)",
        lambda r: r.worst_liquidation_distance,
    ),
    "guard_account_locks": (
        "Active override locks covering the account (global, account or one of its markets)",
        lambda r: r.locks,
    ),
    "guard_account_dry_run": (
        "1 when the account runs in dry-run (sends nothing)",
        lambda r: r.dry_run,
    ),
    "guard_account_disabled": (
        "1 when the account is disabled by a permanent error (no action is taken)",
        lambda r: r.disabled,
    ),
}


class _AccountGauges(Collector):
    def __init__(self, readings: dict[str, AccountRisk]) -> None:
        self.readings = readings

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for name, (text, read) in ACCOUNT_GAUGES.items():
            family = GaugeMetricFamily(name, text, labels=["account"])
            for account, risk in sorted(self.readings.items()):
                value = read(risk)
                if value is not None:
                    family.add_metric([account], float(value))
            yield family


class Metrics:
    """The service's metrics in their own registry (so several services can coexist in tests)."""

    def __init__(self, health: Health) -> None:
        self.registry = CollectorRegistry()
        self.health = health
        r = self.registry
        self.ticks = Counter("guard_ticks", "Ticks by outcome", ["account", "outcome"], registry=r)
        self.tick_seconds = Histogram(
            "guard_tick_seconds",
            "Wall time of one tick",
            ["account"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.findings = Counter(
            "guard_findings", "Rule findings by severity", ["account", "severity"], registry=r
        )
        self.orders = Counter(
            "guard_orders", "Orders by outcome", ["account", "outcome"], registry=r
        )
        self.breaker_trips = Counter(
            "guard_breaker_trips", "Circuit breaker trips", ["account"], registry=r
        )
        self.holds = Counter(
            "guard_holds", "Ticks held back by a rail", ["account", "rail"], registry=r
        )
        self.alerts = Counter("guard_alerts", "Alerts by verdict", ["verdict"], registry=r)
        self.loop_lag = Histogram(
            "guard_event_loop_lag_seconds",
            "How late the event loop ran a 0.25 s timer (a blocked loop delays every tick)",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
        r.register(_SuccessAge(health))
        r.register(_Cooldowns(health))
        self.accounts: dict[str, AccountRisk] = {}
        r.register(_AccountGauges(self.accounts))

    def observe_account(
        self,
        account: str,
        summary: Mapping[str, Decimal | None] | None,
        *,
        dry_run: bool,
        disabled: bool,
    ) -> None:
        """Note an account's tick: its engine summary (None: no snapshot this tick, the last
        reading stays), mode and whether it is disabled."""
        risk = self.accounts.setdefault(account, AccountRisk())
        if summary is not None:
            risk.equity = summary.get("equity")
            risk.margin_ratio = summary.get("margin_ratio")
            risk.worst_liquidation_distance = summary.get("worst_liquidation_distance")
        risk.dry_run, risk.disabled = dry_run, disabled

    def observe_locks(self, account: str, covering: int) -> None:
        self.accounts.setdefault(account, AccountRisk()).locks = covering

    def forget(self, account: str) -> None:
        """An account no longer guarded (removed by a reload) drops out of the gauges."""
        self.accounts.pop(account, None)

    def render(self) -> bytes:
        return generate_latest(self.registry)
