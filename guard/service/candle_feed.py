"""The candles a tick hands to the engine (I/O through the shared CandleCache): only the markets
and timeframes the account's volatility rules need; problems are logged, never raised (the rule
itself then holds with its reason)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime

from guard.core.domain import AccountSnapshot
from guard.core.policy.schema import PolicySet
from guard.core.policy.vol_metrics import candle_needs
from guard.core.volatility import CandleSeries, candle_key
from guard.gateway.candles import CandleCache

log = logging.getLogger("guard.service.candles")


async def candles_for(
    cache: CandleCache,
    gateway: object,
    policies: PolicySet,
    snapshot: AccountSnapshot,
    now: datetime,
) -> Mapping[str, CandleSeries]:
    """Series by candle_key for every (symbol, timeframe) the policies need on this account."""
    needs = candle_needs(policies, snapshot)
    if not needs:
        return {}
    keys = sorted(needs, key=lambda k: (k[0], k[1]))
    found = await asyncio.gather(
        *(cache.get(gateway, symbol, timeframe, needs[(symbol, timeframe)], now)
          for symbol, timeframe in keys)
    )  # fmt: skip
    series: dict[str, CandleSeries] = {}
    for (symbol, timeframe), (got, problem) in zip(keys, found, strict=True):
        if problem:
            log.warning("%s: %s", snapshot.account, problem)
        if got is not None:
            series[candle_key(symbol, timeframe)] = got
    return series
