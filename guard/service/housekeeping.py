"""The housekeeping job: expire locks (audited once), announce new ones, anchor the audit chains
every service.audit_anchor, prune the lease tick log.
(Operator requests are read by each account's own tick.) Never raises: a failure is logged,
retried next run."""

from __future__ import annotations

from guard.service.notify import AlertKind
from guard.service.runner_base import RunnerBase
from guard.store.anchor_sink import append_anchor


class Housekeeping(RunnerBase):
    """The Runner's housekeeping job (see guard.service.runner)."""

    async def housekeeping(self) -> None:
        """Expire locks (audited once), announce new locks, anchor the audit chains when due."""
        now = self.clock()
        if self.store.problem is not None:  # on the journal: housekeeping writes the database
            return  # directly, and a blackholed one would hold the ticks' thread to its timeout
        try:
            db = self.service.db
            for lock in await db.run(self.store.expire_locks, now):
                await self.service.notifier.alert(
                    AlertKind.LOCK, f"expired:{lock.id}", "lock expired", lock.describe()
                )
            active = await db.run(self.store.locks, now)
            for lock in active:
                if lock.id not in self.known_locks:
                    await self.service.notifier.alert(
                        AlertKind.LOCK, f"set:{lock.id}", "lock set", lock.describe()
                    )
            self.known_locks = {lock.id for lock in active}
            leases = self.config.service.leases
            if self.leases is not None and leases.record_ticks:
                await db.run(self.leases.prune_ticks, now - leases.tick_retention)
            if self.anchored_at is None:
                self.anchored_at = now  # the first anchor one period after the start
            elif now - self.anchored_at >= self.config.service.audit_anchor:
                anchor = await db.run(self.store.anchor, now)
                self.anchored_at = now
                self.log.info(
                    "audit_anchor",
                    anchor_id=anchor.id,
                    digest=anchor.payload["digest"],
                    chains=len(anchor.payload["chains"]),
                )
                sink = self.config.service.audit_anchor_file
                if sink is not None:
                    where = sink if sink.is_absolute() else self.config_path.resolve().parent / sink
                    append_anchor(where, anchor)
        except Exception as error:  # the database may be briefly down: try again next time
            self.log.error("housekeeping_failed", error=f"{type(error).__name__}: {error}")
