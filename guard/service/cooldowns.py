"""Venue-wide rate-limit cool-downs seen by the service: each venue gateway that reports them is
watched (its seconds left feed /health and the metrics), and each cool-down started is audited
and alerted once. I/O (store, notifier) only in `report_cooldowns`; never raises."""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from guard.core.audit import AuditEvent, EventKind
from guard.service.notify import AlertKind


def underlying(gateway: Any) -> Any:
    """The gateway under dry-run / fault wrappers (each keeps it as `inner`)."""
    while hasattr(gateway, "inner"):
        gateway = gateway.inner
    return gateway


def watch_cooldowns(service: Any) -> None:
    """Register `service` on every venue gateway of its accounts that reports cool-downs."""
    seen: set[int] = set()
    for runtime in service.accounts.values():
        gateway = underlying(runtime.gateway)
        listeners = getattr(gateway, "cooldown_listeners", None)
        if listeners is None or id(gateway) in seen:
            continue
        seen.add(id(gateway))
        name = gateway.venue  # a second gateway of the venue (another base URL) is told apart
        if name in service.health.cooldowns:
            base = getattr(getattr(gateway, "settings", None), "api_base", None)
            name = f"{gateway.venue} ({base or len(seen)})"
        service.health.cooldowns[name] = gateway.cooldown_remaining

        def started(venue: str, until: datetime, error: Exception, name: str = name) -> None:
            service.cooldowns_started.append((venue, until, f"{name}: {error}"))

        listeners.append(started)


async def report_cooldowns(service: Any, now: datetime) -> None:
    """Audit and alert each cool-down started since the last call, once."""
    while service.cooldowns_started:
        venue, until, error = service.cooldowns_started.pop(0)
        message = (
            f"{venue}: venue-wide rate-limit cool-down until {until:%Y-%m-%d %H:%M:%S} UTC"
            f" (Retry-After): no request reaches the venue until then; {error}"
        )
        with contextlib.suppress(Exception):  # the database is down: the alert still goes out
            await service.db.run(
                service.store.audit,
                [AuditEvent(EventKind.ERROR, message, actor=service.actor)],
                now,
            )
        await service._alert(
            AlertKind.RATE_LIMITED,
            f"rate_limited:{venue}:{until.isoformat()}",
            f"{venue} rate-limited",
            message,
        )
