"""The candles a tick hands to the engine (I/O through the shared CandleCache): only the markets
and timeframes the account's volatility rules need, waited for at most CANDLE_WAIT so a slow
candle read never delays the other rules' orders (the fetch goes on and fills the cache for the
next tick); problems are logged, never raised (the rule itself then holds with its reason)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from guard.core.domain import AccountSnapshot
from guard.core.policy.schema import PolicySet
from guard.core.policy.vol_metrics import candle_needs
from guard.core.volatility import CandleSeries, candle_key
from guard.gateway.candles import CandleCache

log = logging.getLogger("guard.service.candles")
CANDLE_WAIT = timedelta(seconds=2)


async def candles_for(
    cache: CandleCache,
    gateway: object,
    policies: PolicySet,
    snapshot: AccountSnapshot,
    now: datetime,
    wait: timedelta = CANDLE_WAIT,
) -> Mapping[str, CandleSeries]:
    """Series by candle_key for every (symbol, timeframe) the policies need on this account
    that arrived within `wait`."""
    needs = candle_needs(policies, snapshot)
    if not needs:
        return {}
    keys = sorted(needs, key=lambda k: (k[0], k[1]))
    tasks = [
        asyncio.ensure_future(
            cache.get(gateway, symbol, timeframe, needs[(symbol, timeframe)], now)
        )
        for symbol, timeframe in keys
    ]
    await asyncio.wait(tasks, timeout=wait.total_seconds())
    series: dict[str, CandleSeries] = {}
    for (symbol, timeframe), task in zip(keys, tasks, strict=True):
        if not task.done():  # it goes on in the background and fills the cache
            task.add_done_callback(_consume)
            log.warning("%s: candles of %s still loading after %s", snapshot.account, symbol, wait)
            continue
        error = task.exception()
        if error is not None:  # never lets a candle read fail the tick: the rules hold instead
            log.warning("%s: candles of %s failed: %r", snapshot.account, symbol, error)
            continue
        got, problem = task.result()
        if problem:
            log.warning("%s: %s", snapshot.account, problem)
        if got is not None:
            series[candle_key(symbol, timeframe)] = got
    return series


def _consume(task: asyncio.Future[Any]) -> None:
    """Retrieve a late fetch's outcome so an unexpected error is logged, not left unretrieved."""
    if not task.cancelled() and task.exception() is not None:
        log.warning("late candle fetch failed: %r", task.exception())
