"""Rule memory held back per market: `keep_steps` keeps the previous per-position memory of the
markets whose orders did not run, so their steps fire later; `for_mode` keeps dry-run and live
memories apart. Pure; account-wide keys still move."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from guard.core.domain import GuardState, frozen_map


def _symbol_of(state_key: str) -> str | None:
    """The market of a per-position rule-memory key ("rule|symbol|side[|...]"); None for
    account-wide keys ("rule|@account")."""
    parts = state_key.split("|")
    return parts[1] if len(parts) >= 3 else None


def keep_steps(next_state: GuardState, previous: GuardState, symbols: set[str]) -> GuardState:
    """`next_state` with the per-position rule memory of `symbols` taken from `previous`, so steps
    held back on those markets (by a lock) are not marked as done and fire once released."""
    if not symbols:
        return next_state

    def pick(new: Mapping[str, Any], old: Mapping[str, Any]) -> Mapping[str, Any]:
        kept = {k: v for k, v in new.items() if _symbol_of(k) not in symbols}
        kept.update({k: v for k, v in old.items() if _symbol_of(k) in symbols})
        return frozen_map(dict(sorted(kept.items())))

    return replace(
        next_state,
        episodes=pick(next_state.episodes, previous.episodes),
        episode_counters=pick(next_state.episode_counters, previous.episode_counters),
        counters=pick(next_state.counters, previous.counters),
        last_fired=pick(next_state.last_fired, previous.last_fired),
    )


def for_mode(state: GuardState, dry_run: bool) -> GuardState:
    """`state` when it records steps of this mode; otherwise a fresh memory of this mode (with the
    reductions in flight), so steps only recorded by dry-run never block live ones."""
    if state.dry_run == dry_run:
        return state
    return GuardState(in_flight=state.in_flight, dry_run=dry_run)
