"""The funding report on paper-venue accounts, every figure computed by hand in the comments."""

from __future__ import annotations

from datetime import timedelta

from guard.core.domain import AccountSnapshot, Side
from guard.core.reports.funding import FundingReport, funding_report, periods_per_year
from guard.core.venues.paper import RULES
from guard.gateway.paper.venue import PaperVenue
from tests.builders import T0, D, spec
from tests.reports.paper import BTC, ETH, SOL, hours, paper, policies

# BTC long 2 and ETH short 10, marks flat at 50 000 and 3 000; funding (positive: longs pay):
#   BTC +0.0001 at 8h, -0.0002 at 16h, +0.0005 at 24h;  ETH +0.0003 at 8h, -0.0004 at 24h.
FUNDING = {
    BTC: [(8, "0.0001"), (16, "-0.0002"), (24, "0.0005")],
    ETH: [(8, "0.0003"), (24, "-0.0004")],
}
THRESHOLD = """
  - id: funding-cap
    kind: funding_threshold
    threshold: "0.06%"
"""


def book(at_hours: float = 17) -> tuple[PaperVenue, AccountSnapshot]:
    venue = paper({BTC: [(0, "50000"), (48, "50000")], ETH: [(0, "3000"), (48, "3000")]}, FUNDING)
    venue.open_account("a", D(100000))
    venue.seed_position("a", BTC, Side.LONG, D(2), D(50000), D(5))
    venue.seed_position("a", ETH, Side.SHORT, D(10), D(3000), D(5))
    venue.advance_to(T0 + hours(at_hours))
    return venue, venue.snapshot("a")


async def report_since(since_hours: float) -> FundingReport:
    venue, snap = book()
    ledger = await venue.fetch_funding_history("a", T0)
    return funding_report(snap, ledger, policies(THRESHOLD), RULES, T0 + hours(since_hours))


async def test_report_when_long_and_short_pay_and_receive_then_signs_follow_the_rate() -> None:
    report = await report_since(0)
    rows = {r.key.symbol: r for r in report.positions}
    # BTC long 2 x 50 000 = 100 000 notional: +0.0001 -> pays +10; -0.0002 -> receives -20.
    assert rows[BTC].paid_since == D(-10)
    assert rows[BTC].payments == 2
    # ETH short 10 x 3 000 = 30 000: +0.0003 -> the short receives -9.
    assert rows[ETH].paid_since == D(-9)
    assert report.paid_since == D(-19)
    # the venue's own accumulated funding agrees with its ledger
    assert rows[BTC].paid_since_open == D(-10)


async def test_report_when_since_is_later_then_only_later_payments_count() -> None:
    report = await report_since(12)
    rows = {r.key.symbol: r for r in report.positions}
    assert rows[BTC].paid_since == D(-20) and rows[BTC].payments == 1  # only the 16h payment
    assert rows[ETH].paid_since == D(0) and rows[ETH].payments == 0


async def test_report_when_rates_are_known_then_next_payment_and_annualised_cost_match() -> None:
    report = await report_since(0)
    rows = {r.key.symbol: r for r in report.positions}
    # next BTC rate +0.0005: the long pays 1 x 100 000 x 0.0005 = +50 at 24h
    assert rows[BTC].next_payment == D(50)
    assert rows[BTC].next_funding_time == T0 + hours(24)
    # next ETH rate -0.0004: the short PAYS -1 x 30 000 x -0.0004 = +12
    assert rows[ETH].next_payment == D(12)
    # 8h interval: 365 x 24 / 8 = 1095 periods; BTC 0.0005 x 1095 = 0.5475 a year (54.75 %)
    assert rows[BTC].paid_per_year == D("0.5475")
    assert rows[ETH].paid_per_year == D("0.4380")  # -1 x -0.0004 x 1095
    assert rows[BTC].cost_per_year == D(54750)  # 50 x 1095
    assert report.next_payment == D(62)
    assert report.cost_per_year == D(67890)  # (50 + 12) x 1095


async def test_report_when_policy_caps_funding_then_trigger_and_headroom_per_side() -> None:
    report = await report_since(0)
    rows = {r.key.symbol: r for r in report.positions}
    (btc,) = rows[BTC].triggers
    (eth,) = rows[ETH].triggers
    # threshold 0.06 % per interval; a long is cut at rate > +0.0006, a short at rate < -0.0006
    assert (btc.trigger_rate, eth.trigger_rate) == (D("0.0006"), D("-0.0006"))
    # headroom = 0.0006 - s x r: BTC 0.0006 - 0.0005 = 0.0001; ETH 0.0006 - 0.0004 = 0.0002
    assert (btc.headroom, eth.headroom) == (D("0.0001"), D("0.0002"))


async def test_report_when_funding_was_paid_then_breakeven_moves_against_the_position() -> None:
    venue, snap = book(at_hours=9)  # after the 8h settlement only: BTC paid +10, ETH got -9
    report = funding_report(
        snap, await venue.fetch_funding_history("a", T0), policies(""), RULES, T0
    )
    rows = {r.key.symbol: r for r in report.positions}
    # long: 50 000 + 10 / 2 = 50 005;  short: 3 000 - (-9) / 10 = 3 000.9
    assert rows[BTC].breakeven_price == D(50005)
    assert rows[ETH].breakeven_price == D("3000.9")


def test_annualise_when_interval_is_one_hour_then_8760_periods() -> None:
    # Hyperliquid and dYdX settle hourly: 365 x 24 = 8 760; 8 h venues: 1 095; 4 h: 2 190.
    assert periods_per_year(timedelta(hours=1)) == D(8760)
    assert periods_per_year(timedelta(hours=8)) == D(1095)
    assert periods_per_year(timedelta(hours=4)) == D(2190)


async def test_report_when_market_is_hourly_then_annualised_from_its_interval() -> None:
    hourly = {SOL: spec(SOL, funding_interval=timedelta(hours=1))}
    venue = paper({SOL: [(0, "100"), (10, "100")]}, {SOL: [(1, "0.0001")]}, hourly)
    venue.open_account("h", D(10000))
    venue.seed_position("h", SOL, Side.LONG, D(50), D(100), D(2))
    rule = '  - {id: hourly, kind: funding_threshold, threshold: "87.6%", annualised: true}\n'
    report = funding_report(venue.snapshot("h"), [], policies(rule), RULES, T0)
    (row,) = report.positions
    # 0.0001 an hour x 8 760 = 0.876 a year; next payment 50 x 100 x 0.0001 = 0.5
    assert row.paid_per_year == D("0.876") and row.next_payment == D("0.5")
    # 87.6 % a year over 8 760 hours = 0.0001 per interval: exactly at the trigger, headroom 0
    assert row.triggers[0].threshold == D("0.0001") and row.triggers[0].headroom == D(0)


async def test_report_when_position_closed_since_then_its_funding_still_counts() -> None:
    venue, _ = book(at_hours=9)
    ledger = await venue.fetch_funding_history("a", T0)
    del venue.accounts["a"].positions[
        next(k for k in venue.accounts["a"].positions if k.symbol == ETH)
    ]
    report = funding_report(venue.snapshot("a"), ledger, policies(""), RULES, T0)
    closed = [r for r in report.positions if not r.is_open]
    assert [(r.key.symbol, r.paid_since) for r in closed] == [(ETH, D(-9))]


def test_report_when_gateway_has_no_history_then_says_so() -> None:
    _, snap = book()
    report = funding_report(snap, None, policies(""), RULES, T0)
    assert not report.history_available and report.paid_since == D(0)
