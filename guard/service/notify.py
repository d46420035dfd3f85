"""Alerts through apprise (Telegram, Slack, Discord, e-mail, webhooks: any apprise URL), typed by
severity (apprise's notify type, the log line's level), deduplicated by key within a window and
rate-limited per minute; sending never raises."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import apprise

from guard.core.domain import Severity
from guard.service.logs import logger


class AlertKind(StrEnum):
    """What an alert is about (its title prefix and a metrics label)."""

    BREACH = "breach"
    ORDER = "order"
    LOCK = "lock"
    BREAKER = "breaker"
    STALE = "stale"
    SANITY = "sanity"
    POSITION_CHANGED = "position_changed"
    PERMANENT_ERROR = "permanent_error"
    RATE_LIMITED = "rate_limited"  # a venue answered 429/418: venue-wide cool-down
    CONFIG = "config"
    SERVICE = "service"
    REPORT = "report"  # a scheduled funding, stress or shadow report
    RULE_ALERT = "rule_alert"  # an alert the engine raised: alert_only rule, start-up band, ...
    PROXIMITY = "proximity"  # at start: positions ranked nearest liquidation first


# How urgent each kind is unless the caller says otherwise: info is news, warning needs a look,
# critical means the guard cannot protect (an account stopped, automatic action stopped).
SEVERITY_OF: dict[AlertKind, Severity] = {
    AlertKind.BREACH: Severity.WARNING,
    AlertKind.ORDER: Severity.INFO,
    AlertKind.LOCK: Severity.INFO,
    AlertKind.BREAKER: Severity.CRITICAL,
    AlertKind.STALE: Severity.WARNING,
    AlertKind.SANITY: Severity.WARNING,
    AlertKind.POSITION_CHANGED: Severity.INFO,
    AlertKind.PERMANENT_ERROR: Severity.CRITICAL,
    AlertKind.RATE_LIMITED: Severity.WARNING,
    AlertKind.CONFIG: Severity.WARNING,
    AlertKind.SERVICE: Severity.INFO,
    AlertKind.RULE_ALERT: Severity.WARNING,
    AlertKind.PROXIMITY: Severity.WARNING,
    AlertKind.REPORT: Severity.INFO,
}
_NOTIFY_TYPE = {
    Severity.INFO: apprise.NotifyType.INFO,
    Severity.WARNING: apprise.NotifyType.WARNING,
    Severity.BREACH: apprise.NotifyType.WARNING,
    Severity.CRITICAL: apprise.NotifyType.FAILURE,
}
_LOG_METHOD = {
    Severity.INFO: "info",
    Severity.WARNING: "warning",
    Severity.BREACH: "warning",
    Severity.CRITICAL: "critical",
}


@dataclass(frozen=True, slots=True)
class SentAlert:
    kind: AlertKind
    key: str
    title: str
    body: str
    account: str | None = None  # the account it is about, when one (chat offers to lock it)
    severity: Severity = Severity.INFO


AlertListener = Callable[[SentAlert], Awaitable[None]]


@dataclass(slots=True)
class Notifier:
    """Sends each alert once per `dedup_seconds` per key, at most `max_per_minute` a minute."""

    urls: Sequence[str] = ()
    dedup_seconds: float = 600.0
    max_per_minute: int = 20
    clock: Callable[[], float] = time.monotonic
    sent: list[SentAlert] = field(default_factory=list)  # what went out (most recent 200)
    suppressed: int = 0
    dropped: int = 0
    failures: int = 0
    _last_by_key: dict[str, float] = field(default_factory=dict)
    _recent: deque[float] = field(default_factory=deque)
    _apprise: apprise.Apprise | None = None
    listeners: list[AlertListener] = field(default_factory=list)  # e.g. the chat console

    def __post_init__(self) -> None:
        if self.urls:
            self._apprise = apprise.Apprise()
            for url in self.urls:
                if not self._apprise.add(url):
                    raise ValueError(unusable(url))

    def admit(self, key: str) -> str:
        """'send', 'duplicate' (same key inside the dedup window) or 'rate-limited'."""
        now = self.clock()
        last = self._last_by_key.get(key)
        if last is not None and now - last < self.dedup_seconds:
            self.suppressed += 1
            return "duplicate"
        while self._recent and now - self._recent[0] >= 60:
            self._recent.popleft()
        if len(self._recent) >= self.max_per_minute:
            self.dropped += 1
            return "rate-limited"
        self._recent.append(now)
        self._last_by_key[key] = now
        return "send"

    def forget(self, key: str) -> None:
        """Let the next alert with `key` through (the condition cleared, e.g. data fresh again)."""
        self._last_by_key.pop(key, None)

    async def alert(
        self,
        kind: AlertKind,
        key: str,
        title: str,
        body: str,
        account: str | None = None,
        severity: Severity | None = None,
    ) -> str:
        """Queue one alert (at `severity`, else its kind's); returns what admit() decided and
        logs it at the level of its severity (a duplicate or rate-limited one at debug, so a
        lasting breach does not repeat a warning every tick). Delivery failures are counted."""
        level = severity or SEVERITY_OF[kind]
        verdict = self.admit(f"{kind.value}:{key}")
        method = _LOG_METHOD[level] if verdict == "send" else "debug"
        getattr(logger(service="guard"), method)(
            "alert", kind=kind.value, severity=level.value, title=title, body=body, verdict=verdict
        )
        if verdict != "send":
            return verdict
        item = SentAlert(kind, key, f"guard {kind.value}: {title}", body, account, level)
        self.sent.append(item)
        del self.sent[:-200]
        if self._apprise is not None:
            try:
                ok = bool(
                    await asyncio.to_thread(
                        self._apprise.notify,
                        body=item.body,
                        title=item.title,
                        notify_type=_NOTIFY_TYPE[level],
                    )
                )
            except Exception:  # a broken notifier must never stop the guard
                ok = False
            if not ok:
                self.failures += 1
        for listener in list(self.listeners):
            try:
                await listener(item)
            except Exception:  # a broken listener must never stop the guard
                self.failures += 1
        return verdict


def unusable(url: str) -> str:
    """Why `url` cannot be used, its secrets hidden."""
    return f"not a usable apprise URL: {_redact(url)} (see apprise's list of services)"


def usable(url: str) -> bool:
    """Whether apprise accepts `url` (nothing is sent)."""
    return bool(apprise.Apprise().add(url))


def _redact(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://…" if rest else url
