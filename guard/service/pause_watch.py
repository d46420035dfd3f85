"""The service's watch on the pause file (I/O): each pause is audited and alerted the first time a
tick sees it and again when it ends (expired or removed), and an account's health says it is paused
while one covers it. The egress gate holds the orders back (Executor, via PauseReader.covering);
this only makes the pause visible. Never raises: a failed audit is retried at the next tick."""

from __future__ import annotations

from datetime import datetime

from guard.core.audit import AuditEvent, EventKind
from guard.core.pause import Pause
from guard.service.alerts import Alerts
from guard.service.notify import AlertKind


class PauseWatch(Alerts):
    """Part of GuardService: the pause file seen from the tick."""

    __slots__ = ()

    async def watch_pauses(self, account: str) -> None:
        """Audit new and ended pauses; degrade `account`'s health while a pause covers it."""
        if self.pauses is None:
            return
        at = self.clock()
        source = str(self.pauses.path)
        active = {pause.key: pause for pause in self.pauses.read().active(at)}
        for key, pause in active.items():
            if key in self.pauses_seen:
                continue
            if await self._pause_event(EventKind.PAUSE_SEEN, pause, pause.describe(source), at):
                self.pauses_seen[key] = pause
                await self._alert(AlertKind.LOCK, f"pause:{key}", "paused", pause.describe(source))
        for key in [k for k in self.pauses_seen if k not in active]:
            pause = self.pauses_seen[key]
            how = "expired" if not pause.is_active(at) else "removed (guard resume)"
            if await self._pause_event(
                EventKind.PAUSE_ENDED, pause, f"{how}: {pause.describe(source)}", at
            ):
                del self.pauses_seen[key]
                self.notifier.forget(f"{AlertKind.LOCK.value}:pause:{key}")
        covering = [pause.describe(source) for pause in active.values() if pause.covers(account)]
        if covering:
            self.health.degrade(account, "pause", "; ".join(covering))
        else:
            self.health.recover(account, "pause")

    async def _pause_event(self, kind: EventKind, pause: Pause, message: str, at: datetime) -> bool:
        event = AuditEvent(
            kind,
            message,
            account=pause.account,
            symbol=pause.market,
            actor=pause.actor,
            payload={
                "pause_file": str(self.pauses.path) if self.pauses is not None else None,
                "reason": pause.reason,
                "set_at": pause.set_at.isoformat(),
                "until": pause.until.isoformat() if pause.until is not None else None,
                "problem": pause.problem,
            },
        )
        try:
            await self.db.run(self.store.audit, [event], at)
        except Exception:  # neither the database nor the journal: tried again next tick
            return False
        return True
