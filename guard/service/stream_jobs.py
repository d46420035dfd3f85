"""The Runner's stream wake-ups (I/O): one VenueStreams per venue and base URL for its accounts
with `streams: true`, the waker and the coalescer feeding the same tick job as the poll (one tick
per account at a time; polling stays the backstop). Built at start; a reload keeps them."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from guard.service.config import AccountConfig
from guard.service.runner_base import RunnerBase
from guard.service.runtime import TickReport
from guard.service.streams import StreamMetrics, StreamWaker, TickCoalescer

if TYPE_CHECKING:
    from guard.gateway.ccxt import AccountConfig as GatewayAccount


class StreamJobs(RunnerBase):
    """Stream wake-ups of the Runner (see guard.service.runner)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        options = self.config.service.streams
        self.coalescer = TickCoalescer(self._job)
        self.tick_locks: dict[str, asyncio.Lock] = {}
        self.waker = StreamWaker(
            self.coalescer.wake,
            notifier=lambda: self.service.notifier,
            metrics=StreamMetrics(self.metrics.registry),
            health=self.health,
            move_fraction=options.move_fraction,
        )

    async def start_streams(self) -> None:
        """Subscribe the venues of every account with `streams: true` (none: nothing starts)."""
        # ccxt (and ccxt.pro) load here, not at import: `guard run` starts without them
        from guard.gateway.ccxt import GatewaySettings
        from guard.gateway.ccxt.streams import StreamSettings, VenueStreams

        options = self.config.service.streams
        settings = StreamSettings(
            silence=options.silence,
            staleness=self.config.service.staleness,
            backoff_max=options.backoff_max.total_seconds(),
        )
        groups: dict[tuple[str, str | None], list[AccountConfig]] = {}
        for account in self.config.accounts:
            if account.streams and account.name in self.service.accounts:
                groups.setdefault((account.venue, account.base_url), []).append(account)
        for (venue, base_url), accounts in groups.items():
            key = venue if base_url is None else f"{venue}@{base_url}"
            streams = VenueStreams(
                venue,
                [_gateway_account(a) for a in accounts],
                self.waker.updates_for(key),
                self.waker.states_for(key),
                settings=settings,
                gateway=GatewaySettings(api_base=base_url),
                clock=self.clock,
            )
            self.waker.add(key, streams, [a.name for a in accounts])
        try:
            await self.waker.start()
        except Exception as error:  # a stream that cannot start leaves polling to protect
            self.log.error("streams_failed", error=f"{type(error).__name__}: {error}")

    async def stop_streams(self) -> None:
        """No more wake-ups; a woken tick in flight finishes (the shutdown waits for it) and
        a pending one finds the service stopping and does nothing."""
        await self.waker.stop()

    async def _job(self, name: str) -> None:  # the tick job (guard.service.tick_jobs)
        raise NotImplementedError

    def after_tick(self, name: str, report: TickReport) -> None:
        """Remember the facts of a full evaluation for the stream pre-check."""
        runtime = self.service.accounts.get(name)
        if runtime is None or report.decision is None or runtime.previous is None:
            return
        if any(name in names for names in self.waker.accounts_of.values()):
            self.waker.remember(name, runtime.previous, report.decision, runtime.policies)


def _gateway_account(account: AccountConfig) -> GatewayAccount:
    from guard.gateway.ccxt import AccountConfig as GatewayAccount
    from guard.gateway.ccxt import Credentials

    return GatewayAccount(
        account.name,
        account.venue,
        Credentials(
            env={k: ref.env for k, ref in account.credentials.items() if ref.env is not None},
            files={k: str(ref.file) for k, ref in account.credentials.items() if ref.file},
        ),
    )
