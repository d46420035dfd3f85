"""Audit event kinds and the event value the shell writes; plain data, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from guard.core.domain import frozen_map


class EventKind(StrEnum):
    """What an audit row records."""

    EVALUATION = "evaluation"  # summary of one tick's evaluation of one account
    FINDING = "finding"  # one rule's verdict
    INTENT = "intent"  # an order the guard decided to send (written before sending)
    ORDER_SENT = "order_sent"
    ORDER_ACKNOWLEDGED = "order_acknowledged"
    ORDER_FILLED = "order_filled"
    ORDER_PARTIALLY_FILLED = "order_partially_filled"
    ORDER_REJECTED = "order_rejected"
    ORDER_UNKNOWN = "order_unknown"
    ORDER_WOULD_PLACE = "order_would_place"  # dry-run
    ORDER_SUPPRESSED = "order_suppressed"  # held back by a lock, breaker or rail
    ORDER_SKIPPED = "order_skipped"  # a reduction the planner could not turn into an order
    LOCK_SET = "lock_set"
    LOCK_CLEARED = "lock_cleared"
    LOCK_EXPIRED = "lock_expired"
    LOCK_OVERRIDDEN = "lock_overridden"  # a human's flatten went out through an active lock
    PAUSE_SEEN = "pause_seen"  # the service first saw a pause in the operator's pause file
    PAUSE_ENDED = "pause_ended"  # ... and saw it end (expired, or removed by `guard resume`)
    FLATTEN_REQUESTED = "flatten_requested"  # an operator queued a flatten for the service
    FLATTEN_COMPLETED = "flatten_completed"  # the service carried it out (or could not)
    ALERT = "alert"
    CONFIG_LOADED = "config_loaded"
    SERVICE_START = "service_start"
    SERVICE_STOP = "service_stop"
    POSITION_CHANGED = "position_changed"  # vanished or shrank without our order
    ERROR = "error"
    LEASE_ACQUIRED = "lease_acquired"  # a replica took an account's lease (scale-out)
    LEASE_RELEASED = "lease_released"  # a replica handed one back (rebalance or shutdown)
    LEASE_LOST = "lease_lost"  # another replica took it over while this one could not renew
    ANCHOR = "anchor"  # the tips of every audit chain and one hash over them (@service chain)
    AUDIT_ARCHIVED = "audit_archived"  # old rows moved to a file; each chain's new base
    TOKEN_CREATED = "token_created"  # an operator console token was issued (its secret never is)
    TOKEN_REVOKED = "token_revoked"
    OPERATOR_ACTION = "operator_action"  # a console action without its own kind (reload, ...)
    OPERATOR_REFUSED = "operator_refused"  # a console request refused (scope, input, confirm)


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One row to append; `payload` must be JSON-serialisable (Decimals as strings)."""

    kind: EventKind
    message: str
    account: str | None = None
    symbol: str | None = None
    rule_id: str | None = None
    tick_id: str | None = None
    fingerprint: str | None = None
    actor: str = "guard"
    client_order_id: str | None = None
    payload: Mapping[str, Any] = field(default_factory=frozen_map)


QUIET_EVALUATION_ENDING = ", 0 breach(es), 0 order(s) planned"  # how a quiet evaluation ends


def evaluation_message(account: str, findings: int, breaches: int, orders: int) -> str:
    """The message of an evaluation row; a quiet one ends in QUIET_EVALUATION_ENDING (which
    `guard audit tail` hides unless asked)."""
    return (
        f"evaluated {account}: {findings} finding(s), "
        f"{breaches} breach(es), {orders} order(s) planned"
    )
