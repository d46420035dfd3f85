"""The egress gate's verdict: fit, fresh, unlocked and within the breakers, or held with a reason;
a human's flatten passes locks (naming each) but nothing else."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from guard.core.gate import GateInputs, GateRail, LockSeen, gate_verdict
from guard.core.rails import BreakerLimits, WindowTotals

LIMITS = BreakerLimits(timedelta(hours=1), 3, Decimal(100000), 10, Decimal(1000000))
LOCK = LockSeen(7, "lock #7 (account, by alice: maintenance)")
CLEAR = GateInputs(
    account="acct",
    symbol="BTC/USDT:USDT",
    final_status=None,
    problems=(),
    snapshot_age=timedelta(seconds=2),
    max_age=timedelta(minutes=2),
    covering_locks=(),
    override_locks=False,
    notional=Decimal(30000),
    account_window=WindowTotals(),
    global_window=WindowTotals(),
    breakers=LIMITS,
)


def test_gate_when_fit_fresh_unlocked_within_breakers_then_passes() -> None:
    verdict = gate_verdict(CLEAR)
    assert verdict.passes and verdict.overridden == ()


def test_gate_when_lock_covers_then_held_naming_lock() -> None:
    verdict = gate_verdict(replace(CLEAR, covering_locks=(LOCK,)))
    assert verdict.rail is GateRail.LOCK
    assert verdict.held == "held back at send time by lock #7 (account, by alice: maintenance)"


def test_gate_when_flatten_under_lock_then_passes_and_names_overridden_lock() -> None:
    verdict = gate_verdict(
        replace(CLEAR, covering_locks=(LOCK,), override_locks=True, automatic=False)
    )
    assert verdict.passes and verdict.overridden == (LOCK,)


def test_gate_when_flatten_on_stale_or_unfit_snapshot_then_held() -> None:
    stale = replace(CLEAR, override_locks=True, automatic=False, snapshot_age=timedelta(hours=1))
    assert gate_verdict(stale).rail is GateRail.STALE
    unfit = replace(CLEAR, override_locks=True, automatic=False, problems=("price_tick = NaN",))
    verdict = gate_verdict(unfit)
    assert verdict.rail is GateRail.SANITY and "price_tick = NaN" in (verdict.held or "")


def test_gate_when_breaker_window_full_then_automatic_held_flatten_passes() -> None:
    full = replace(CLEAR, account_window=WindowTotals(3, Decimal(1000)))
    assert gate_verdict(full).rail is GateRail.BREAKER
    assert gate_verdict(replace(full, automatic=False, override_locks=True)).passes


def test_gate_when_intent_already_final_then_never_sent_again() -> None:
    verdict = gate_verdict(replace(CLEAR, final_status="filled"))
    assert verdict.rail is GateRail.FINAL


@given(
    locked=st.booleans(),
    stale=st.booleans(),
    unfit=st.booleans(),
    full=st.booleans(),
    final=st.booleans(),
)
def test_gate_when_any_hold_present_then_automatic_order_never_passes(
    locked: bool, stale: bool, unfit: bool, full: bool, final: bool
) -> None:
    inputs = replace(
        CLEAR,
        covering_locks=(LOCK,) if locked else (),
        snapshot_age=timedelta(hours=1) if stale else CLEAR.snapshot_age,
        problems=("x = NaN",) if unfit else (),
        account_window=WindowTotals(3, Decimal(0)) if full else WindowTotals(),
        final_status="filled" if final else None,
    )
    assert gate_verdict(inputs).passes == (not (locked or stale or unfit or full or final))
