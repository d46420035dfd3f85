"""The running guard: one tick, the executor, the runner, service config, alerts, metrics, logs.

The service's face: GuardService ticks accounts, each an AccountRuntime."""

from guard.service.runtime import AccountRuntime, TickReport
from guard.service.service_base import RailSettings
from guard.service.tick import GuardService

__all__ = ["AccountRuntime", "GuardService", "RailSettings", "TickReport"]
