"""The state of a venue's streams as the service sees it (pure values, no ccxt): the service
imports it without loading ccxt, so `guard run` starts fast."""

from __future__ import annotations

from enum import StrEnum


class StreamState(StrEnum):
    """A venue's stream as the service sees it."""

    CONNECTING = "connecting"  # not yet a message since start
    CONNECTED = "connected"  # messages arrive within the silence bound
    STALE = "stale"  # silent past the bound: polling alone protects (fallback)
    DOWN = "down"  # the connection failed; reconnecting with backoff (fallback)

    @property
    def fallback(self) -> bool:
        return self in (StreamState.STALE, StreamState.DOWN)
