"""The GuardService's fields (with RailSettings, which rails are on) and shared primitives: the
account's clock, an executor, an error record. The base of its parts; I/O (the store), but
`_error` never raises."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from guard.core.audit import AuditEvent, EventKind
from guard.core.pause import Pause
from guard.core.rails import BreakerLimits, SanityBounds
from guard.gateway.candles import CandleCache
from guard.service.cooldowns import watch_cooldowns
from guard.service.db_thread import DatabaseThread
from guard.service.executor import Executor
from guard.service.metrics import Health, Metrics
from guard.service.notify import Notifier
from guard.service.pause_file import PauseReader
from guard.service.runtime import AccountRuntime
from guard.store import Store


@dataclass(frozen=True, slots=True)
class RailSettings:
    """Which rails are on (None: off)."""

    staleness: timedelta | None = None
    breakers: BreakerLimits | None = None
    sanity: SanityBounds | None = None


@dataclass(slots=True)
class ServiceBase:
    """What a GuardService holds, and the primitives every part of its tick uses: the account's
    clock, an executor, an error record. The tick itself is guard.service.tick.GuardService."""

    store: Store
    accounts: Mapping[str, AccountRuntime]
    clock: Callable[[], datetime]
    actor: str = "guard"
    tick_counts: dict[str, int] = field(default_factory=dict)
    rails: RailSettings = RailSettings()
    notifier: Notifier = field(default_factory=Notifier)
    health: Health = field(default_factory=Health)
    metrics: Metrics | None = None
    db: DatabaseThread = field(default_factory=DatabaseThread)  # store calls, off the loop
    # a quiet evaluation repeating the last one is audited once per heartbeat (None: every tick)
    heartbeat: timedelta | None = None
    pauses: PauseReader | None = None  # the operator's pause file (works with the database down)
    pauses_seen: dict[str, Pause] = field(default_factory=dict)  # audited as seen, not yet ended
    candles: CandleCache = field(default_factory=CandleCache)  # shared by every account
    # venue rate-limit cool-downs started, not yet audited and alerted: (venue, until, error)
    cooldowns_started: list[tuple[str, datetime, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        watch_cooldowns(self)

    def now_of(self, runtime: AccountRuntime) -> datetime:
        return (runtime.clock or self.clock)()

    def executor(self, runtime: AccountRuntime, actor: str | None = None) -> Executor:
        return Executor(
            self.store,
            runtime.gateway,
            runtime.clock or self.clock,
            dry_run=runtime.dry_run,
            actor=actor or self.actor,
            fence=runtime.fence,
            wall_clock=self.clock,
            db=self.db,
            staleness=self.rails.staleness,
            breakers=self.rails.breakers,
            rules=runtime.rules,
            pauses=self.pauses.covering if self.pauses is not None else None,
            verify=runtime.verify_until is not None and self.clock() < runtime.verify_until,
        )

    async def _error(
        self, account: str, tick_id: str, fingerprint: str, message: str, now: datetime
    ) -> None:
        try:
            await self.db.run(
                self.store.audit,
                [
                    AuditEvent(
                        EventKind.ERROR,
                        message,
                        account=account,
                        tick_id=tick_id,
                        fingerprint=fingerprint,
                        actor=self.actor,
                    )
                ],
                now,
            )
        except Exception:  # the database itself is down: nothing more to do here
            return
