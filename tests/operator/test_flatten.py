"""`guard flatten` and the pure flatten decision; carried out through planner and executor, once."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guard.core.domain import Side
from guard.core.flatten import RULE_ID, flatten_decision, selected_markets
from guard.core.planner import plan
from guard.gateway.paper.scenarios import crash
from guard.service.executor import Executor
from guard.store import AccountInfo, RequestStatus, Store
from tests.builders import position, snapshot
from tests.operator.conftest import run

BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"


# ----- the pure decision -------------------------------------------------------------------
def test_flatten_decision_when_market_given_then_only_its_positions_reduced_by_fraction() -> None:
    snap = snapshot(
        [
            position(BTC, Side.LONG, "1.2"),
            position(BTC, Side.SHORT, "0.4"),
            position(ETH, Side.LONG, "10", entry="3000"),
        ]
    )
    decision = flatten_decision(snap, BTC, Decimal("0.5"), "de-risk", "alice", 7)
    assert [(r.key.symbol, r.key.side, r.quantity) for r in decision.reductions] == [
        (BTC, Side.LONG, Decimal("0.60")),
        (BTC, Side.SHORT, Decimal("0.20")),
    ]
    (first, _) = decision.reductions
    assert first.rule_ids == (RULE_ID,) and first.steps == (f"{RULE_ID}:7",)
    assert first.reasons == ("flatten #7 by alice: de-risk",)
    assert decision.findings == () and decision.taken_at == snap.taken_at
    assert selected_markets(snap, None) == (BTC, ETH)


def test_flatten_decision_when_market_not_held_then_no_reduction() -> None:
    snap = snapshot([position(BTC)])
    assert flatten_decision(snap, ETH, Decimal(1), "r", "a", 1).reductions == ()


@pytest.mark.parametrize(("fraction", "reason"), [("0", "r"), ("1.01", "r"), ("1", " ")])
def test_flatten_decision_when_input_bad_then_value_error(fraction: str, reason: str) -> None:
    with pytest.raises(ValueError):
        flatten_decision(snapshot([position()]), None, Decimal(fraction), reason, "a", 1)


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.decimals("0.001", "500", places=3), min_size=1, max_size=4),
    fraction=st.decimals("0.001", "1", places=3),
    request_id=st.integers(1, 10_000),
)
def test_flatten_plan_when_any_fraction_then_reduce_only_within_each_position_and_stable_ids(
    sizes: list[Decimal], fraction: Decimal, request_id: int
) -> None:
    symbols = [f"C{i}/USDT:USDT" for i in range(len(sizes))]
    snap = snapshot(
        [position(s, Side.LONG, str(q), entry="100") for s, q in zip(symbols, sizes, strict=True)]
    )
    rules = crash().venue(("acct",)).rules
    first = plan(flatten_decision(snap, None, fraction, "r", "a", request_id), snap, rules)
    again = plan(flatten_decision(snap, None, fraction, "r", "a", request_id), snap, rules)
    other = plan(flatten_decision(snap, None, fraction, "r", "a", request_id + 1), snap, rules)
    assert [o.client_order_id for o in first.orders] == [o.client_order_id for o in again.orders]
    assert not {o.client_order_id for o in first.orders} & {o.client_order_id for o in other.orders}
    assert all(o.reduce_only and o.side.value == "sell" for o in first.orders)
    by_symbol: dict[str, Decimal] = {}
    for order in first.orders:
        by_symbol[order.symbol] = by_symbol.get(order.symbol, Decimal(0)) + order.quantity
    for symbol, size in zip(symbols, sizes, strict=True):
        assert by_symbol.get(symbol, Decimal(0)) <= size


# ----- carried out through planner and executor (what the service does per request) --------
async def carry_out(store: Store, venue, account: str) -> list[str]:  # type: ignore[no-untyped-def]
    """One service pass over the account's pending requests; returns the outcomes."""
    outcomes: list[str] = []
    executor = Executor(store, venue, lambda: venue.now, actor="guard")
    for request in store.pending_requests(account):
        snap = await venue.fetch_snapshot(account)
        decision = flatten_decision(
            snap, request.market, request.fraction, request.reason, request.actor, request.id
        )
        planned = plan(decision, snap, venue.rules)
        report = await executor.execute(
            account,
            planned.orders,
            tick_id=f"flatten-{request.id}",
            fingerprint=None,
            state=None,
            override_locks=True,
        )
        outcome = f"{report.sent} order(s) sent, {len(report.duplicates)} duplicate(s)"
        store.complete_request(request.id, outcome, venue.now)
        outcomes.append(outcome)
    return outcomes


async def test_flatten_when_account_locked_then_still_reduced_once_through_executor(
    any_store: Store,
) -> None:
    venue = crash().venue(("acct",))
    any_store.register_accounts([AccountInfo("acct", "paper", False, Decimal(5))], venue.now)
    any_store.set_lock(reason="hands off", actor="bob", at=venue.now, account="acct")
    request_id = any_store.request_flatten(
        account="acct",
        market=BTC,
        fraction=Decimal("0.5"),
        reason="cut",
        actor="alice",
        at=venue.now,
    )
    before = (await venue.fetch_snapshot("acct")).positions

    assert await carry_out(any_store, venue, "acct") == ["1 order(s) sent, 0 duplicate(s)"]

    after = {p.symbol: p.quantity for p in (await venue.fetch_snapshot("acct")).positions}
    sizes = {p.symbol: p.quantity for p in before}
    assert after[BTC] == sizes[BTC] / 2 and after[ETH] == sizes[ETH]
    (intent,) = any_store.intents("acct")
    assert intent.rule_ids == (RULE_ID,) and "alice" in intent.reason
    # the same request carried out again (a crash before it was marked done) sends nothing
    snap = await venue.fetch_snapshot("acct")
    replay = plan(
        flatten_decision(snap, BTC, Decimal("0.5"), "cut", "alice", request_id), snap, venue.rules
    )
    report = await Executor(any_store, venue, lambda: venue.now).execute(
        "acct", replay.orders, tick_id=None, fingerprint=None, state=None, override_locks=True
    )
    assert (report.sent, len(report.duplicates)) == (0, 1)
    assert {p.symbol: p.quantity for p in (await venue.fetch_snapshot("acct")).positions} == after
    done = any_store.request(request_id)
    assert done is not None and done.status is RequestStatus.DONE
    kinds = [e.kind for e in any_store.tail(20, account="acct")]
    assert kinds[0] == "lock_set" and "flatten_requested" in kinds and "order_filled" in kinds
    assert kinds[-1] == "flatten_completed" and "order_suppressed" not in kinds


# ----- the command -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--reason", "r"], "flatten needs --account"),
        (["--account", "main"], "flatten needs --reason"),
        (["--account", "mian", "--reason", "r"], "unknown account 'mian'; known accounts: main"),
        (
            ["--account", "main", "--reason", "r", "--fraction", "half"],
            "--fraction must be a number",
        ),
        (["--account", "main", "--reason", "r", "--fraction", "0"], "--fraction must be in (0, 1]"),
        (
            ["--account", "main", "--reason", "r", "--fraction", "1.5"],
            "--fraction must be in (0, 1]",
        ),
        (["--account", "main", "--reason", "r", "--wait", "-1"], "--wait must be zero or positive"),
    ],
)
def test_flatten_command_when_input_bad_then_exit_2_and_nothing_requested(
    db: str, store: Store, args: list[str], message: str
) -> None:
    store.register_accounts([AccountInfo("main", "paper", False, Decimal(5))], datetime.now(UTC))
    wait = [] if "--wait" in args else ["--wait", "0"]
    ran = run("flatten", *args, *wait, "--yes", "--db", db)
    assert ran.code == 2 and message in ran.err
    assert store.pending_requests() == []


def test_flatten_command_when_not_confirmed_then_nothing_requested(db: str, store: Store) -> None:
    ran = run("flatten", "--account", "main", "--reason", "r", "--db", db, input="n\n")
    assert ran.code == 1 and "not confirmed" in ran.out
    assert store.pending_requests() == [] and store.count_events() == 0


def test_flatten_command_when_service_does_not_answer_then_queued_with_actor(
    db: str, store: Store
) -> None:
    ran = run(
        "flatten",
        "--account",
        "main",
        "--market",
        BTC,
        "--fraction",
        "0.25",
        "--reason",
        "too big",
        "--actor",
        "alice",
        "--db",
        db,
        "--wait",
        "0",
        input="y\n",
    )
    assert ran.code == 0, ran.text
    assert "close 25.00% of BTC/USDT:USDT on main (reduce-only), as alice" in ran.out
    assert "flatten #1 is queued" in ran.err
    (request,) = store.pending_requests("main")
    assert (request.market, request.fraction, request.reason, request.actor) == (
        BTC,
        Decimal("0.25"),
        "too big",
        "alice",
    )
    (event,) = store.tail(1, kind="flatten_requested")
    assert event.actor == "alice" and event.payload["request_id"] == 1


@pytest.mark.parametrize(("failed", "code"), [(False, 0), (True, 1)])
def test_flatten_command_when_service_completes_in_time_then_outcome_printed(
    db: str, store: Store, failed: bool, code: int
) -> None:
    def service() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            pending = store.pending_requests("main")
            if pending:
                store.complete_request(
                    pending[0].id, "sold 0.6 BTC", datetime.now(UTC), failed=failed
                )
                return
            time.sleep(0.05)

    worker = threading.Thread(target=service)
    worker.start()
    ran = run("flatten", "--account", "main", "--reason", "r", "--yes", "--wait", "10", "--db", db)
    worker.join()
    status = "failed" if failed else "done"
    assert ran.code == code and f"flatten #1 {status}: sold 0.6 BTC" in ran.out
