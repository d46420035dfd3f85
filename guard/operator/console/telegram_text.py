"""How the chat console words status and positions for a phone screen: pure text formatting."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

HELP = (
    "guard commands:\n"
    "/status  every account\n"
    "/positions  positions and liquidation distance\n"
    "/lock ACCOUNT [30m] [reason]  hold the guard back on an account (operator)\n"
    "/unlock ACCOUNT|#ID  clear locks (operator)\n"
    "/pause [30m] [reason]  hold the guard back everywhere (operator)\n"
    "/resume  clear the pause (operator)\n"
    "/flatten ACCOUNT [reason]  reduce-only close, with a confirm button (operator)"
)


def _pct(value: Any) -> str:
    return "-" if value is None else f"{Decimal(str(value)) * 100:.1f}%"


def _money(value: Any) -> str:
    return "-" if value is None else f"{Decimal(str(value)):.2f}"


def status_text(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no accounts yet"
    lines = []
    for row in rows:
        locks = ", ".join(f"#{lock['id']}" for lock in row["active_locks"]) or "none"
        lines.append(
            f"{row['account']}: {row['mode']}, equity {_money(row['equity'])}, "
            f"margin {_pct(row['margin_ratio'])}, liq {_pct(row['worst_liquidation_distance'])}, "
            f"locks {locks}"
        )
    return "\n".join(lines)


def positions_text(positions: dict[str, list[dict[str, Any]]]) -> str:
    lines = []
    for account, items in positions.items():
        lines.append(f"{account}:" + ("" if items else " no positions"))
        for p in items:
            lines.append(
                f"  {p['symbol']} {p['side']} {p['quantity']}: liq distance "
                f"{_pct(p['liquidation_distance'])} ({p['band']})"
            )
    return "\n".join(lines) or "no accounts"
