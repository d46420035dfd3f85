"""An operator's flatten as a Decision: pure (no I/O, no clock). Invariants: only open positions
of the account are reduced, each by `fraction` of its size (0 < fraction <= 1), and every step
names the request id, so the planner's client ids are deterministic and one request is sent once."""

from __future__ import annotations

from decimal import Decimal

from guard.core.domain import ZERO, AccountSnapshot, Decision, GuardState, Reduction

RULE_ID = "operator-flatten"


def flatten_decision(
    snapshot: AccountSnapshot,
    market: str | None,
    fraction: Decimal,
    reason: str,
    actor: str,
    request_id: int,
    state: GuardState | None = None,
) -> Decision:
    """Reductions of `fraction` of every open position (or only those of `market`).

    `next_state` is `state` unchanged (a flatten is not a rule and moves no rule memory); the
    service passes no state to the executor for it. A market with no open position yields no
    reductions: the caller reports that as the request's outcome.
    """
    if not ZERO < fraction <= 1:
        raise ValueError(f"flatten fraction must be in (0, 1], got {fraction}")
    if not reason.strip():
        raise ValueError("a flatten needs a reason")
    why = f"flatten #{request_id} by {actor}: {reason.strip()}"
    reductions = tuple(
        Reduction(
            key=position.key,
            quantity=position.quantity * fraction,
            rule_ids=(RULE_ID,),
            reasons=(why,),
            steps=(f"{RULE_ID}:{request_id}",),
        )
        for position in sorted(snapshot.positions, key=lambda p: (p.symbol, p.side.value))
        if position.quantity > ZERO and (market is None or position.symbol == market)
    )
    return Decision(
        account=snapshot.account,
        taken_at=snapshot.taken_at,
        findings=(),
        reductions=reductions,
        alerts=(),
        next_state=state if state is not None else GuardState(),
    )


def selected_markets(snapshot: AccountSnapshot, market: str | None) -> tuple[str, ...]:
    """The markets a flatten of `market` (None: all) would touch, for the outcome message."""
    return tuple(
        sorted({p.symbol for p in snapshot.positions if market is None or p.symbol == market})
    )
