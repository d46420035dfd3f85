"""Prometheus metrics of the service and its health (ok, or degraded with reasons); served by
guard.service.web."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

# An account whose last successful tick is older than this many poll intervals (plus a second
# of scheduling slack) is not being guarded: /health says so.
STALLED_INTERVALS = 2
STALL_SLACK = 1.0


@dataclass(slots=True)
class Health:
    """Per-account reasons for being degraded; ok when there are none."""

    clock: Callable[[], float] = time.monotonic
    reasons: dict[str, dict[str, str]] = field(default_factory=dict)  # account -> key -> why
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

    def render(self) -> bytes:
        return generate_latest(self.registry)
