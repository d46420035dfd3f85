"""GuardService (I/O): one tick of one account in six steps (read → decide → plan → gate → send
→ write: one venue snapshot and one store read, a pure decision and plan, one write) over its
inherited parts. Never raises (one bad account never stops the loop); no automatic action on stale data, past a breaker, on an unexplained jump or under a lock."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import datetime

from guard.core.domain import AccountSnapshot, Severity
from guard.core.engine import evaluate
from guard.core.planner import plan
from guard.core.rails import Hold, PositionChange, compare, staleness
from guard.core.step_memory import for_mode, keep_steps
from guard.core.validity import snapshot_problems
from guard.gateway.base import GatewayError, PermanentError, RateLimited
from guard.service.candle_feed import candles_for
from guard.service.cooldowns import report_cooldowns
from guard.service.db_thread import routed
from guard.service.flatten_requests import FlattenRequests
from guard.service.holds import RailHolds, engine_stale
from guard.service.notify import AlertKind
from guard.service.pause_watch import PauseWatch  # the operator's pause file (issue 21)
from guard.service.reconcile import Reconciliation
from guard.service.runtime import AccountRuntime, TickReport
from guard.service.tick_events import (
    change_events,
    hold_event,
    quiet_outcome,
    summary,
    suppressed,
    tick_events,
)
from guard.store.tick_io import TickInputs


class GuardService(RailHolds, FlattenRequests, Reconciliation, PauseWatch):
    """Ticks accounts; the database is where it meets the operator's commands. Its fields and
    shared primitives are in guard.service.service_base.ServiceBase, its parts in the modules
    it inherits from."""

    __slots__ = ()

    async def tick(self, account: str) -> TickReport:
        """One level-triggered reconcile step of `account`; errors are audited, never raised.
        Its store calls run on the account's database worker, in order (see db_thread)."""
        with routed(account):
            return await self._routed_tick(account)

    async def _routed_tick(self, account: str) -> TickReport:
        runtime = self.accounts[account]
        started = time.monotonic()
        now = self.now_of(runtime)
        count = self.tick_counts.get(account, 0) + 1
        self.tick_counts[account] = count
        tick_id = f"{account}@{now.strftime('%Y%m%dT%H%M%S.%fZ')}"
        await self.watch_pauses(account)  # audit/alert/health only: the gate holds the orders
        try:
            report = await self._tick(runtime, tick_id, now)
        except Exception as error:  # e.g. the database is down while resolving intents
            message = f"tick failed: {type(error).__name__}: {error}"
            await self._error(account, tick_id, runtime.policies.fingerprint, message, now)
            self.health.degrade(account, "tick", message)
            report = TickReport(account, tick_id, None, None, None, message)
        await report_cooldowns(self, self.clock())  # started by any call of this tick
        if self.store.problem is None:
            self.health.recover(account, "database")
            self.notifier.forget(f"{AlertKind.SERVICE.value}:journal")
        else:  # journaling locally (guard.store.journaled_store): still protecting, but say so
            self.health.degrade(account, "database", self.store.problem)
            await self._alert(
                AlertKind.SERVICE,
                "journal",
                "database unreachable: protecting from the local journal",
                self.store.problem,
                severity=Severity.WARNING,
            )
        self._observe(runtime, report, time.monotonic() - started)
        return report

    async def _tick(self, runtime: AccountRuntime, tick_id: str, now: datetime) -> TickReport:
        account = runtime.name
        fingerprint = runtime.policies.fingerprint
        if runtime.disabled_reason is not None:
            return TickReport(account, tick_id, None, None, None, runtime.disabled_reason)
        try:  # 1. read: the venue's truth and the store's, one round trip each, concurrently
            snapshot, inputs = await self._read(runtime)
            if inputs.intents:  # unfinished orders first, by client id; then read again
                await self.resolve(runtime, inputs.intents, snapshot)
                snapshot, inputs = await self._read(runtime)
        except GatewayError as error:
            return await self._venue_failed(runtime, tick_id, fingerprint, error, now)
        self.health.recover(account, "venue")
        try:
            stale = (
                staleness(snapshot, now, self.rails.staleness)
                if self.rails.staleness is not None
                else None
            )
            flattened = (
                stale is None
                and bool(inputs.requests)
                and await self._flatten_requests(runtime, snapshot, inputs.requests, tick_id, now)
            )
            if flattened:
                runtime.previous = None  # our own flatten moved the book: no sanity baseline
                return TickReport(account, tick_id, None, None, None)
            return await self._evaluate(runtime, snapshot, inputs, stale, tick_id, now)
        except Exception as error:  # one bad account must never stop the loop
            message = f"tick failed: {type(error).__name__}: {error}"
            await self._error(account, tick_id, fingerprint, message, now)
            self.health.degrade(account, "tick", message)
            return TickReport(account, tick_id, None, None, None, str(error))

    async def _read(self, runtime: AccountRuntime) -> tuple[AccountSnapshot, TickInputs]:
        """The account's snapshot and its one store read (state, locks, requests, intents),
        awaited together; GatewayError when the venue fails."""
        venue = asyncio.ensure_future(runtime.gateway.fetch_snapshot(runtime.name))
        try:
            inputs = await self.db.run(self.store.read_tick, runtime.name, self.clock())
        except BaseException:
            venue.cancel()
            with contextlib.suppress(BaseException):
                await venue
            raise
        return await venue, inputs

    async def _venue_failed(
        self,
        runtime: AccountRuntime,
        tick_id: str,
        fingerprint: str,
        error: GatewayError,
        now: datetime,
    ) -> TickReport:
        account = runtime.name
        if isinstance(error, PermanentError):
            runtime.disabled_reason = f"permanent error, no further action: {error}"
            self.health.degrade(account, "disabled", runtime.disabled_reason)
            # `guard status` shows it; with the database down the error row below still says why
            with contextlib.suppress(Exception):
                await self.db.run(
                    self.store.disable_account, account, runtime.disabled_reason, self.clock()
                )
            await self._alert(AlertKind.PERMANENT_ERROR, account, account, str(error), account)
        if isinstance(error, RateLimited):  # audited and alerted once per cool-down
            await report_cooldowns(self, self.clock())
        self.health.degrade(account, "venue", f"venue unreachable: {error}")
        await self._error(account, tick_id, fingerprint, f"snapshot failed: {error}", now)
        return TickReport(account, tick_id, None, None, None, str(error))

    async def _evaluate(
        self,
        runtime: AccountRuntime,
        snapshot: AccountSnapshot,
        inputs: TickInputs,
        stale: Hold | None,
        tick_id: str,
        now: datetime,
    ) -> TickReport:
        account, fingerprint = runtime.name, runtime.policies.fingerprint
        problems = snapshot_problems(snapshot)
        if problems:
            return await self._contradictory(runtime, problems, tick_id, fingerprint, now)
        await self._remember_markets(runtime, snapshot)
        holds: list[Hold] = [stale] if stale is not None else []
        changes: list[PositionChange] = []
        if stale is None and self.rails.sanity is not None:
            jumps, changes = compare(
                runtime.previous, snapshot, runtime.own_fills, self.rails.sanity
            )
            holds.extend(jumps)
        if stale is None:
            runtime.previous = snapshot
            runtime.own_fills = {}
        # 2. decide (pure)
        state = for_mode(inputs.state, runtime.dry_run)
        candles = await candles_for(
            self.candles, runtime.gateway, runtime.policies, snapshot, snapshot.taken_at
        )
        decision = evaluate(
            snapshot, runtime.policies, state, runtime.rules, evaluated_at=now, candles=candles
        )
        # 3. plan (pure): clipped, rounded, sliced, deterministic client ids
        planned = plan(decision, snapshot, runtime.rules)
        # 4. gate: what holds the plan back now (the egress gate re-checks at each send)
        if stale is None:
            stale = engine_stale(account, decision)
            if stale is not None:
                holds.append(stale)
        if planned.orders and not holds and not runtime.dry_run:
            tripped = await self._breaker(account, planned.orders, snapshot, now)
            if tripped is not None:
                holds.append(tripped)
        locked = {
            p.symbol
            for p in planned.orders
            if any(lock.covers(account, p.symbol) for lock in inputs.locks)
        }
        events = (
            tick_events(account, tick_id, fingerprint, decision, planned, self.actor)
            if self._worth_auditing(runtime, quiet_outcome(decision, planned, holds, changes))
            else []
        )
        events.extend(change_events(account, tick_id, fingerprint, changes, self.actor))
        if self.metrics is not None:  # the active locks covering the account (read_tick's)
            self.metrics.observe_locks(account, len(inputs.locks))
        self._rail_health(account, stale, holds)
        await self._announce(runtime, decision, holds, changes)
        events.extend(hold_event(h, account, tick_id, fingerprint, self.actor) for h in holds)
        next_state, execution = state, None
        if holds:
            # nothing runs on held data, and no rule memory moves: the previous state is kept,
            # so the held steps fire once the hold is gone
            why = "; ".join(h.reason for h in holds)
            events.extend(
                suppressed(p, f"held back: {why}", tick_id, fingerprint, self.actor)
                for p in planned.orders
            )
        else:
            # a lock holds back only what it covers: the other markets stay protected. The
            # locked markets keep their previous rule memory, so their steps fire after unlock.
            next_state = keep_steps(decision.next_state, state, locked)
            if planned.orders:  # 5. send: admit (one write) → egress gate → create_order
                execution = await self.executor(runtime).execute(
                    account,
                    planned.orders,
                    tick_id=tick_id,
                    fingerprint=fingerprint,
                    state=next_state,
                    events=events,
                    restore=state,
                )
                events = []
                held = {p.symbol for p, _ in execution.suppressed} - locked
                next_state = keep_steps(next_state, state, held)
                await self._after_execution(runtime, planned.orders, execution)
        # 6. write: state, summary and what is worth auditing, in one transaction
        await self.db.run(
            self.store.record_tick,
            account,
            tick_id,
            now if holds else self.now_of(runtime),
            next_state,
            summary(decision, self.clock()),
            events,
            runtime.fence,
        )
        return TickReport(
            account, tick_id, decision, planned, execution, None, tuple(holds), tuple(changes)
        )

    def _worth_auditing(self, runtime: AccountRuntime, quiet: str | None) -> bool:
        """Every evaluation that decides anything is audited; a quiet one only when its outcome
        differs from the last quiet one audited, or once per heartbeat (the tick line is logged
        either way)."""
        if quiet is None or self.heartbeat is None:
            runtime.audited_outcome = None
            return True
        now = self.clock()
        due = runtime.audited_at is None or now - runtime.audited_at >= self.heartbeat
        if quiet == runtime.audited_outcome and not due:
            return False
        runtime.audited_outcome, runtime.audited_at = quiet, now
        return True

    async def _remember_markets(self, runtime: AccountRuntime, snapshot: AccountSnapshot) -> None:
        """Tell the store the account's markets when they change, so operator commands resolve
        `SOL` or `SOLUSDT` to one of them; a failure is retried on the next tick."""
        symbols = frozenset(snapshot.markets)
        if symbols == runtime.markets_recorded:
            return
        try:
            await self.db.run(self.store.record_markets, runtime.name, sorted(symbols))
        except Exception:  # the database is down: the tick itself goes on (journal or error)
            return
        runtime.markets_recorded = symbols
