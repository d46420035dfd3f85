"""The tick job of each account: scheduled every poll interval at a stable phase offset, run only
under this replica's lease (fenced), one at a time; resolves what a previous holder left first."""

from __future__ import annotations

import asyncio
import zlib
from datetime import UTC, datetime, timedelta

from guard.core.audit import EventKind
from guard.service.stream_jobs import StreamJobs
from guard.store.database import is_outage
from guard.store.journaled_store import JournaledStore


def phase_offset(name: str, interval: timedelta) -> timedelta:
    """A stable offset in [0, interval) from the account name: accounts polled at the same
    interval are spread over it instead of all ticking at the same instant (no thundering herd
    on the event loop, the database or the venue's rate limits)."""
    return interval * (zlib.crc32(name.encode()) / 2**32)


class TickJobs(StreamJobs):
    """The Runner's tick jobs (see guard.service.runner)."""

    def _schedule(self, name: str, *, spread: bool = False) -> None:
        """Tick `name` every poll interval: at once, or (`spread`, for the whole set at start and
        on reload) after its phase offset, so the accounts do not all tick at one instant."""
        runtime = self.service.accounts[name]
        span = runtime.poll_interval
        if isinstance(self.store, JournaledStore) and self.store.blind:
            span = span / 4  # started without the database (a restart in an outage): sooner
        offset = phase_offset(name, span) if spread else timedelta(0)
        self.scheduler.add_job(
            self._job,
            "interval",
            args=[name],
            seconds=runtime.poll_interval.total_seconds(),
            id=f"tick:{name}",
            next_run_time=datetime.now(UTC) + offset,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=int(self.config.service.misfire_grace.total_seconds()) or 1,
            replace_existing=True,
        )

    async def _job(self, name: str) -> None:
        """One tick of `name`, from the poll or a stream wake-up; never two at once per account
        (a poll due while a woken tick runs waits for it, then reads the venue again)."""
        if self.stopping or name not in self.service.accounts:
            return
        lock = self.tick_locks.setdefault(name, asyncio.Lock())
        async with lock:
            await self._locked_job(name)

    async def _locked_job(self, name: str) -> None:
        if self.stopping or name not in self.service.accounts:
            return
        fence = self.leases.fence(name) if self.leases is not None else None
        if self.leases is not None and fence is None and self.leases_unconfirmed:
            fence = self.leases.held.get(name)  # past the ttl, the database down: kept
        if self.leases is not None:
            if fence is None:  # not (or no longer surely) this replica's account
                return
            self.service.accounts[name].fence = fence
        started = self.clock()
        self.inflight += 1
        self.ticking.add(name)
        try:
            if name in self.taken_over:
                self.taken_over.discard(name)
                await self._resolve_taken_over(name)
            report = await self.service.tick(name)
            self.after_tick(name, report)
        finally:
            self.inflight -= 1
            self.ticking.discard(name)
        if fence is not None and self.config.service.leases.record_ticks:
            self._record_tick(name, fence.token, started)
        if self.config.service.stop_when_scenarios_end and self._scenarios_over():
            self.request_stop()

    def through_outage(self, error: BaseException) -> bool:
        """Whether this replica keeps its leases past their ttl: the store is on the outage
        journal because the database is unreachable. Nobody can take a lease over then (the
        database is down for everyone; a partition that cuts only this replica is the residual
        risk, bounded by deterministic client ids, reduce-only orders and the taker's look-ups:
        docs/reliability.md)."""
        if not isinstance(self.store, JournaledStore):
            return False
        return self.store.problem is not None or is_outage(error)

    async def _resolve_taken_over(self, name: str) -> None:
        """Before the first tick under a new lease: resolve what the previous holder left."""
        runtime = self.service.accounts[name]
        try:
            await self.service.resolve(runtime, startup=True)
        except Exception as error:  # venue or database down: the tick's own resolve retries
            self._audit(
                EventKind.ERROR,
                f"reconciliation after taking over {name} failed: {type(error).__name__}: {error}",
                account=name,
            )

    def _record_tick(self, name: str, token: int, started: datetime) -> None:
        assert self.leases is not None
        try:
            self.leases.record_tick(name, token, started, self.clock())
        except Exception as error:  # a log row, never a reason to fail the tick
            self.log.error("lease_tick_log_failed", error=f"{type(error).__name__}: {error}")

    def _scenarios_over(self) -> bool:
        accounts = self.service.accounts
        return (
            bool(self.papers)
            and len(self.papers) == len(accounts)
            and all(paper.ended for paper in self.papers.values())
        )
