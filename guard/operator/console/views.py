"""How the console shows stored values as plain JSON-ready data (status rows, locks, audit
events): pure functions of their arguments, shared by every transport."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from guard.store import AccountStatus, StoredEvent, StoredIntent, StoredLock


def status_json(row: AccountStatus) -> dict[str, Any]:
    return {
        "account": row.name,
        "venue": row.venue,
        "mode": row.mode,
        "disabled_reason": row.disabled_reason,
        "in_running_config": row.in_config,
        "dry_run": row.dry_run,
        "last_tick_at": row.last_tick_at,
        "tick_age_seconds": None if row.tick_age is None else row.tick_age.total_seconds(),
        "equity": row.equity,
        "margin_ratio": row.margin_ratio,
        "worst_liquidation_distance": row.worst_liquidation_distance,
        "open_breaches": row.open_breaches,
        "pending_intents": row.pending_intents,
        "pending_requests": row.pending_requests,
        "active_locks": [
            {"id": lock.id, "scope": lock.scope.value, "market": lock.market, "reason": lock.reason}
            for lock in row.locks
        ],
    }


def lock_json(lock: StoredLock, at: datetime) -> dict[str, Any]:
    return {
        "id": lock.id,
        "state": lock.state(at),
        "scope": lock.scope.value,
        "account": lock.account,
        "market": lock.market,
        "reason": lock.reason,
        "actor": lock.actor,
        "created_at": lock.created_at,
        "expires_at": lock.expires_at,
        "cleared_at": lock.cleared_at,
        "cleared_by": lock.cleared_by,
        "clear_reason": lock.clear_reason,
    }


def event_json(event: StoredEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "at": event.at.isoformat(),
        "chain": event.chain,
        "kind": event.kind,
        "account": event.account,
        "symbol": event.symbol,
        "rule_id": event.rule_id,
        "tick_id": event.tick_id,
        "fingerprint": event.fingerprint,
        "actor": event.actor,
        "client_order_id": event.client_order_id,
        "message": event.message,
        "payload": event.payload,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


def intent_json(intent: StoredIntent) -> dict[str, Any]:
    return {
        "client_order_id": intent.client_order_id,
        "account": intent.account,
        "symbol": intent.symbol,
        "side": intent.side,
        "quantity": intent.quantity,
        "status": intent.status.value,
        "filled_quantity": intent.filled_quantity,
        "reason": intent.reason,
        "created_at": intent.created_at,
    }
