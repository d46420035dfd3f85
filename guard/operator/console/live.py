"""What the running service shows the console that the database does not hold: each account's
last snapshot measured (positions, liquidation distance, the policy band it is in), and a
reload request handed to the service's event loop. Reads the runner's memory; no I/O."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from guard.core.margin import measure
from guard.core.policy.schema import PolicySet
from guard.core.policy.schema_ladders import ExitLadderRule, LadderMetric
from guard.service.runner import Runner


def liquidation_triggers(policies: PolicySet) -> list[Decimal]:
    """The liquidation-distance triggers of the account's exit ladders, widest first."""
    found = [
        band.trigger
        for rule in policies.rules
        if isinstance(rule, ExitLadderRule) and rule.metric is LadderMetric.LIQUIDATION_DISTANCE
        for band in rule.bands
    ]
    return sorted(set(found), reverse=True)


def band(distance: Decimal | None, triggers: list[Decimal]) -> str:
    """ok (outside every band), warn (inside a band), critical (inside the deepest), unknown."""
    if distance is None:
        return "unknown"
    if not triggers or distance > triggers[0]:
        return "ok"
    return "critical" if distance <= triggers[-1] else "warn"


class RunnerView:
    """The console's LiveView of one Runner (built in its event loop)."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.loop = asyncio.get_running_loop()

    def positions(self) -> dict[str, list[dict[str, Any]]]:
        shown: dict[str, list[dict[str, Any]]] = {}
        for name, runtime in sorted(self.runner.service.accounts.items()):
            snapshot = runtime.previous
            if snapshot is None:
                shown[name] = []
                continue
            triggers = liquidation_triggers(runtime.policies)
            try:
                metrics = measure(snapshot, runtime.rules)
            except (KeyError, ArithmeticError, ValueError):  # unfit snapshot: show nothing
                shown[name] = []
                continue
            shown[name] = [
                {
                    "symbol": p.key.symbol,
                    "side": p.key.side.value,
                    "quantity": p.quantity,
                    "mark_price": p.mark_price,
                    "notional": p.notional,
                    "liquidation_price": p.liquidation_price,
                    "liquidation_distance": p.liquidation_distance,
                    "band": band(p.liquidation_distance, triggers),
                    "bands": triggers,
                    "as_of": snapshot.taken_at,
                }
                for p in metrics.positions
            ]
        return shown

    def request_reload(self) -> None:
        self.loop.call_soon_threadsafe(self.runner._reload_soon)
