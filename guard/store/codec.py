"""GuardState <-> JSON, exact: Decimals as strings, times as ISO-8601 with offset."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from guard.core.domain import GuardState, LadderEpisode, PositionKey, Side, frozen_map


def state_to_json(state: GuardState) -> str:
    data = {
        "episodes": {
            key: {
                "number": ep.number,
                "start_quantity": str(ep.start_quantity),
                "fired_bands": sorted(ep.fired_bands),
            }
            for key, ep in state.episodes.items()
        },
        "episode_counters": dict(state.episode_counters),
        "equity_peaks": [[t.isoformat(), str(e)] for t, e in state.equity_peaks],
        "counters": dict(state.counters),
        "last_fired": {key: t.isoformat() for key, t in state.last_fired.items()},
        "dry_run": state.dry_run,
    }
    return json.dumps(data, sort_keys=True)


def state_from_json(text: str) -> GuardState:
    data: dict[str, Any] = json.loads(text)
    return GuardState(
        episodes=frozen_map(
            {
                key: LadderEpisode(
                    number=int(ep["number"]),
                    start_quantity=Decimal(ep["start_quantity"]),
                    fired_bands=frozenset(int(b) for b in ep["fired_bands"]),
                )
                for key, ep in data.get("episodes", {}).items()
            }
        ),
        episode_counters=frozen_map(
            {k: int(v) for k, v in data.get("episode_counters", {}).items()}
        ),
        equity_peaks=tuple(
            (datetime.fromisoformat(t), Decimal(e)) for t, e in data.get("equity_peaks", [])
        ),
        counters=frozen_map({k: int(v) for k, v in data.get("counters", {}).items()}),
        last_fired=frozen_map(
            {k: datetime.fromisoformat(v) for k, v in data.get("last_fired", {}).items()}
        ),
        dry_run=bool(data.get("dry_run", False)),
    )


def key_to_text(key: PositionKey) -> str:
    return f"{key.symbol}|{key.side.value}"


def key_from_text(text: str) -> PositionKey:
    symbol, side = text.rsplit("|", 1)
    return PositionKey(symbol, Side(side))


def decimal_text(value: Decimal) -> str:
    """Exact, but never in exponent form: 0E+23 is "0", 1E+2 is "100" (trailing zeros kept)."""
    if value.is_zero():
        return "0"
    text = str(value)
    return format(value, "f") if "E" in text and value.is_finite() else text


def to_jsonable(value: Any) -> Any:
    """Decimals and datetimes to strings, recursively (for audit payloads)."""
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    return value


def _leaf(value: Any) -> Any:
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return list(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def json_text(value: Any) -> str:
    """`json.dumps(to_jsonable(value), sort_keys=True)` without the converted copy, for a value
    whose dicts have only str keys (to_jsonable's str(key) is then the key itself)."""
    return json.dumps(value, sort_keys=True, default=_leaf)
