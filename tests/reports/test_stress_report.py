"""The stress report on a paper-venue account with a cross pool and an isolated short; the
liquidation sets and the guard's first orders are computed by hand in the comments."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from guard.core.domain import AccountSnapshot, GuardState, MarginMode, OrderSide, Side
from guard.core.engine import evaluate
from guard.core.reports.stress_report import ShockOutcome, StressReport, stress_report
from guard.core.stress import CROSS_POOL
from guard.core.venues.paper import RULES
from guard.gateway.paper.venue import PaperVenue
from guard.service.reports import build_report
from guard.store import Store
from tests.builders import D
from tests.reports.paper import BTC, ETH, SOL, paper, policies

# Paper tiers below 50 000 notional: maintenance 0.4 % of notional, liquidation at equity <= mm.
# Wallet 12 000; the isolated SOL short takes its 1 000 margin from it: cross wallet 11 000.
#   cross: BTC long 1 @ 40 000, ETH long 10 @ 2 000       isolated: SOL short 100 @ 100, margin 1 000
# -10 %: cross pnl -4 000 - 2 000 = -6 000 -> equity 5 000 vs mm 144 + 72 = 216: survives;
#        SOL +1 000 -> equity 2 000 vs mm 36: survives.                      liquidated: none
# -20 %: cross equity 11 000 - 12 000 = -1 000 vs mm 128 + 64 = 192: the cross pool liquidates
#        (BTC and ETH together); SOL equity 3 000 survives.                 liquidated: BTC, ETH
# -30 %: cross equity 11 000 - 18 000 = -7 000: BTC, ETH.
# +10 %: cross equity 17 000; SOL pnl -1 000 -> equity 0 vs mm 11 000 x 0.4 % = 44: SOL only.
# +20 %, +30 %: SOL equity -1 000, -2 000: SOL only.
EXPECTED = {
    "all -10%": set(),
    "all -20%": {BTC, ETH},
    "all -30%": {BTC, ETH},
    "all +10%": {SOL},
    "all +20%": {SOL},
    "all +30%": {SOL},
}


def account() -> tuple[PaperVenue, AccountSnapshot]:
    flat = [(0, "40000"), (10, "40000")]
    venue = paper({BTC: flat, ETH: [(0, "2000"), (10, "2000")], SOL: [(0, "100"), (10, "100")]})
    venue.open_account("s", D(12000))
    venue.seed_position("s", BTC, Side.LONG, D(1), D(40000), D(10))
    venue.seed_position("s", ETH, Side.LONG, D(10), D(2000), D(10))
    venue.seed_position("s", SOL, Side.SHORT, D(100), D(100), D(10), MarginMode.ISOLATED, D(1000))
    return venue, venue.snapshot("s")


def by_name(report: StressReport) -> dict[str, ShockOutcome]:
    return {o.shock.name: o for o in report.outcomes}


def test_stress_when_shocked_both_ways_then_cross_pool_and_isolated_short_liquidate_apart() -> None:
    _, snap = account()
    report = stress_report(snap, policies(""), RULES)
    outcomes = by_name(report)
    assert {n: {k.symbol for k in o.liquidated} for n, o in outcomes.items()} == EXPECTED
    cross = next(p for p in outcomes["all -20%"].pools if p.pool == CROSS_POOL)
    assert (cross.equity, cross.maintenance_margin) == (D(-1000), D(192))
    assert {k.symbol for k in cross.positions} == {BTC, ETH}  # the pool goes as one
    sol = next(p for p in outcomes["all +10%"].pools if p.pool != CROSS_POOL)
    assert (sol.equity, sol.maintenance_margin, sol.liquidated) == (D(0), D(44), True)
    assert report.equity == D(12000)  # 11 000 cross + 1 000 isolated, flat marks


def test_stress_when_policy_has_shocks_then_they_are_reported_too() -> None:
    _, snap = account()
    rule = """
  - id: survive-btc
    kind: stress
    shocks: [{name: btc halves, move: "-50%", anchor: BTC/USDT:USDT}]
"""
    outcome = by_name(stress_report(snap, policies(rule), RULES))["btc halves"]
    # only BTC moves (default beta 0): 20 000 loss -> cross equity -9 000: BTC and ETH liquidate
    assert outcome.source == "policy"
    assert dict(outcome.marks) == {BTC: D(20000), ETH: D(2000), SOL: D(100)}
    assert {k.symbol for k in outcome.liquidated} == {BTC, ETH}


def test_stress_when_isolated_short_breaches_then_guard_would_buy_half_first() -> None:
    venue, snap = account()
    rule = """
  - id: buffer
    kind: buffer_floor
    metric: margin_ratio
    floor: "50%"
    restore: "30%"
    isolated_reduce: "50%"
"""
    outcomes = by_name(stress_report(snap, policies(rule), RULES))
    # -10 %: cross ratio 216 / 5 000 = 4.3 %, SOL 36 / 2 000 = 1.8 %: below 50 %, no order
    assert outcomes["all -10%"].orders == ()
    # +10 %: SOL's own ratio 44 / 0 is infinite > 50 %: cut 50 % of 100 = 50, a reduce-only buy
    (order,) = outcomes["all +10%"].orders
    assert (order.symbol, order.side, order.quantity, order.reduce_only) == (
        SOL,
        OrderSide.BUY,
        D(50),
        True,
    )
    assert venue.calls["create_order"] == 0  # a report never sends


def test_stress_when_shocks_are_given_then_only_those_run() -> None:
    from guard.core.stress import Shock

    _, snap = account()
    report = stress_report(snap, policies(""), RULES, [Shock("eth -60%", Decimal("-0.6"), (ETH,))])
    (outcome,) = report.outcomes
    # ETH 800: loss 12 000 -> cross equity -1 000 vs mm 160 + 32 = 192: the cross pool
    assert {k.symbol for k in outcome.liquidated} == {BTC, ETH}
    assert outcome.maintenance_margin == D(192) + D(40)  # plus SOL unmoved: 10 000 x 0.4 %


LADDER = """
  - id: dd
    kind: exit_ladder
    metric: drawdown_pct
    bands:
      - {trigger: "5%", reduce: "25%"}
      - {trigger: "15%", reduce: "25%"}
    rearm: "1%"
"""


def live_memory(snap: AccountSnapshot) -> GuardState:
    """What the running guard remembers after its last tick on `snap`: equity 12 000 against a
    peak of 12 700 is a 5.5 % drawdown, so band 1 (5 %) fired (episode sizes BTC 1, ETH 10,
    SOL 100)."""
    peak = GuardState(equity_peaks=((snap.taken_at - timedelta(hours=1), D(12700)),))
    decision = evaluate(snap, policies(LADDER), peak, RULES, snap.taken_at)
    assert [f.request is not None for f in decision.findings] == [True, True, True]
    return decision.next_state


def test_stress_when_a_ladder_step_already_fired_then_only_the_next_step_is_planned() -> None:
    _, snap = account()
    # -10 %: equity 12 000 - 4 000 (BTC) - 2 000 (ETH) + 1 000 (SOL short) = 7 000; drawdown
    # from 12 700 is 44.9 %, from 12 000 (a fresh memory's only peak) 41.7 %: both bands reached.
    fresh = by_name(stress_report(snap, policies(LADDER), RULES))["all -10%"]
    live = by_name(stress_report(snap, policies(LADDER), RULES, memory=live_memory(snap)))
    # fresh memory: bands 1 and 2 fire, 25 % + 25 % of the episode-start sizes
    assert {o.symbol: o.quantity for o in fresh.orders} == {BTC: D("0.5"), ETH: D(5), SOL: D(50)}
    # live memory: band 1 already fired in this episode, only band 2 (25 %) is left
    assert {o.symbol: o.quantity for o in live["all -10%"].orders} == {
        BTC: D("0.25"),
        ETH: D("2.5"),
        SOL: D(25),
    }


async def test_build_report_when_the_store_remembers_a_fired_step_then_stress_uses_it(
    sqlite_store: Store,
) -> None:
    venue, snap = account()
    # the running guard's last tick saved this memory (band 1 fired) for account "s"
    sqlite_store.record_tick("s", "t-1", snap.taken_at, live_memory(snap), {}, [])
    report = await build_report(
        "stress",
        account="s",
        gateway=venue,
        rules=RULES,
        policies=policies(LADDER),
        store=sqlite_store,
        since=None,
    )
    assert isinstance(report, StressReport)
    orders = by_name(report)["all -10%"].orders
    assert {o.symbol: o.quantity for o in orders} == {BTC: D("0.25"), ETH: D("2.5"), SOL: D(25)}
