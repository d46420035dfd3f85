"""The scale-out lease heartbeat: renew, rebalance and take over account leases, schedule the
accounts held, drop the rest. Database unreachable: with the outage journal the leases held are
kept (nobody can take one over while the database is down for every replica) and the accounts stay
guarded from the journal; without it each lease is dropped at its deadline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from guard.core.domain import Severity
from guard.service.notify import AlertKind
from guard.service.tick_jobs import TickJobs, phase_offset

LEASES = "@leases"  # the replica's own health entry (not an account)
VERIFY_AFTER_TAKEOVER = timedelta(minutes=5)  # the resend window: older intents are abandoned


class LeaseBeat(TickJobs):
    """The Runner's lease heartbeat (see guard.service.runner)."""

    async def _lease_beat(self) -> None:
        """Heartbeat: renew, rebalance and take over leases; schedule what is held, drop the rest."""
        leases = self.leases
        if leases is None or self.stopping:
            return
        try:
            beat = await self.service.db.run(
                leases.beat,
                sorted(self.service.accounts),
                set(self.ticking),
                self.clock(),
                acquire=self.beats > 0,  # the first beat only announces: others see us alive
            )
        except Exception as error:  # the database is unreachable: stop once the leases lapse
            cause = f"{type(error).__name__}: {error}"
            self.log.error("lease_heartbeat_failed", error=cause)
            self.leases_unconfirmed = self.through_outage(error)
            if self.leases_unconfirmed:  # on the journal: keep guarding (docs/reliability.md)
                held = sorted(leases.held)
                why = (
                    f"lease heartbeat failed: {cause}; the database is unreachable, so this "
                    f"replica keeps guarding {', '.join(held) or 'nothing'} from the journal past "
                    "the lease ttl (no replica can take a lease over while it is down)"
                )
                self.health.degrade(LEASES, "unconfirmed", why)
                await self.service.notifier.alert(
                    AlertKind.SERVICE, "leases-unconfirmed", "leases unconfirmed", why,
                    Severity.WARNING,
                )  # fmt: skip
                return
            lapsed = leases.lapse()
            for name in lapsed:
                self._drop_lease(name)
            if lapsed:  # not guarding is never green: say so until a heartbeat succeeds again
                why = (
                    f"leases of {len(lapsed)} account(s) lapsed, this replica no longer guards "
                    f"{', '.join(lapsed)}: lease heartbeat failed: {cause}"
                )
                self.health.degrade(LEASES, "lapsed", why)
                await self.service.notifier.alert(
                    AlertKind.SERVICE, "leases-lapsed", "not guarding", why, Severity.CRITICAL
                )
            return
        self.leases_unconfirmed = False
        self.health.recover(LEASES, "lapsed")
        self.health.recover(LEASES, "unconfirmed")
        self.service.notifier.forget(f"{AlertKind.SERVICE.value}:leases-lapsed")
        self.service.notifier.forget(f"{AlertKind.SERVICE.value}:leases-unconfirmed")
        self.beats += 1
        for name in (*beat.lost, *beat.released):
            self._drop_lease(name)
        for name in beat.acquired:
            runtime = self.service.accounts.get(name)
            if runtime is None:
                continue
            runtime.fence = beat.held[name]
            runtime.previous = None  # another replica ticked it meanwhile: no sanity baseline
            runtime.own_fills = {}
            # the previous holder may have sent orders from its journal that the database does
            # not show yet: each client id is looked up at the venue before it is sent
            runtime.verify_until = self.clock() + VERIFY_AFTER_TAKEOVER
            self.taken_over.add(name)
            self.health.intervals[name] = runtime.poll_interval.total_seconds()
            self._schedule(name)
            # first ticks spread over a quarter interval: a bulk takeover is not one burst that
            # blocks the loop (and this heartbeat) for every later period
            first = phase_offset(name, runtime.poll_interval / 4)
            self.scheduler.modify_job(f"tick:{name}", next_run_time=datetime.now(UTC) + first)
        if beat.acquired or beat.released or beat.lost:
            self.log.info(
                "leases",
                replica=leases.replica,
                held=len(beat.held),
                acquired=len(beat.acquired),
                released=len(beat.released),
                lost=len(beat.lost),
                alive=beat.alive,
                share=beat.share,
            )

    def _drop_lease(self, name: str) -> None:
        """Stop ticking `name` (a running tick finishes; its writes are fenced off)."""
        if self.scheduler.get_job(f"tick:{name}") is not None:
            self.scheduler.remove_job(f"tick:{name}")
        self.taken_over.discard(name)
        self.health.intervals.pop(name, None)
        self.health.last_success.pop(name, None)
        self.health.reasons.pop(name, None)
