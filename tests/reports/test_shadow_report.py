"""The shadow report of a dry-run paper account: orders the guard recorded instead of sending,
valued at the marks since; every figure computed by hand in the comments."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import cast

from guard.core.domain import OrderStatus, Side
from guard.core.reports.shadow import ShadowReport, WouldPlace, shadow_report
from guard.core.venues.paper import RULES
from guard.gateway.base import Gateway
from guard.gateway.dryrun import DryRunGateway
from guard.gateway.paper.venue import PaperVenue
from guard.service import AccountRuntime, GuardService
from guard.service.reports import build_report, would_place_records
from guard.store import Store
from tests.builders import T0, D
from tests.reports.paper import BTC, ETH, hours, paper, policies

# BTC long 1 @ 60 000 and ETH short 10 @ 3 000 (cross, wallet 100 000). Marks:
#   BTC 60 000 (0h) -> 54 000 (1h) -> 48 000 (2h) -> 60 000 (3h)
#   ETH  3 000 (0h) ->  3 300 (1h) ->  3 600 (2h) ->  3 000 (3h)
# At 1h both lose 10 % of entry notional: the 5 % band cuts half, once per episode:
#   would sell 0.5 BTC at 54 000 and buy back 5 ETH at 3 300 (the marks the plans were priced at).
LADDER = """
  - id: loss-cut
    kind: exit_ladder
    metric: unrealized_loss_pct
    bands: [{trigger: "5%", reduce: "50%"}]
    rearm: "1%"
"""


async def dry_run_account(tmp_path: Path) -> tuple[PaperVenue, Store, Gateway]:
    venue = paper(
        {
            BTC: [(0, "60000"), (1, "54000"), (2, "48000"), (3, "60000")],
            ETH: [(0, "3000"), (1, "3300"), (2, "3600"), (3, "3000")],
        }
    )
    venue.open_account("dry", D(100000))
    venue.seed_position("dry", BTC, Side.LONG, D(1), D(60000), D(10))
    venue.seed_position("dry", ETH, Side.SHORT, D(10), D(3000), D(10))
    store = Store(f"sqlite:///{tmp_path / 'shadow.db'}")
    store.create_schema()
    gateway = cast(Gateway, DryRunGateway(venue))
    runtime = AccountRuntime("dry", RULES, gateway, policies(LADDER), dry_run=True)
    service = GuardService(store, {"dry": runtime}, lambda: venue.now)
    for moment in (1, 2):  # the band fires at 1h; at 2h it has already fired
        venue.advance_to(T0 + hours(moment))
        await service.tick("dry")
    return venue, store, gateway


async def test_shadow_when_price_kept_falling_then_the_dry_run_cuts_would_have_saved(
    tmp_path: Path,
) -> None:
    venue, store, gateway = await dry_run_account(tmp_path)
    assert venue.calls["create_order"] == 0  # dry-run: nothing reached the venue
    assert {i.status for i in store.intents("dry")} == {OrderStatus.WOULD_PLACE}
    report = await build_report(
        "shadow",
        account="dry",
        gateway=gateway,
        rules=RULES,
        policies=policies(LADDER),
        store=store,
        since=None,
    )
    assert isinstance(report, ShadowReport)
    lines = {line.key.symbol: line for line in report.lines}
    assert (lines[BTC].counted, lines[BTC].price, lines[BTC].price_basis) == (
        D("0.5"),
        D(54000),
        "mark",
    )
    assert (lines[ETH].counted, lines[ETH].price) == (D(5), D(3300))
    # now (2h): long sold at 54 000, mark 48 000: +1 x (54 000 - 48 000) x 0.5 = +3 000 saved
    #           short bought at 3 300, mark 3 600: -1 x (3 300 - 3 600) x 5 = +1 500 saved
    assert (lines[BTC].saved, lines[ETH].saved) == (D(3000), D(1500))
    assert report.saved == D(4500)


async def test_shadow_when_price_came_back_then_the_dry_run_cuts_would_have_cost(
    tmp_path: Path,
) -> None:
    venue, store, gateway = await dry_run_account(tmp_path)
    venue.advance_to(T0 + hours(3))  # back to the entries: 60 000 and 3 000
    report = await build_report(
        "shadow",
        account="dry",
        gateway=gateway,
        rules=RULES,
        policies=policies(LADDER),
        store=store,
        since=None,
    )
    assert isinstance(report, ShadowReport)
    lines = {line.key.symbol: line for line in report.lines}
    # long: (54 000 - 60 000) x 0.5 = -3 000; short: -1 x (3 300 - 3 000) x 5 = -1 500
    assert (lines[BTC].saved, lines[ETH].saved) == (D(-3000), D(-1500))
    assert report.saved == D(-4500)


def _record(cid: str, minutes: int, quantity: str, step: str) -> WouldPlace:
    return WouldPlace(
        cid,
        T0 + timedelta(minutes=minutes),
        BTC,
        Side.LONG,
        D(quantity),
        D(50000),
        "mark",
        ("floor",),
        (step,),
        "buffer",
    )


def test_shadow_when_level_rule_restates_then_only_increases_are_counted() -> None:
    # a level request restated every tick on the unreduced dry-run position: 2, then 3, then 1;
    # live, the guard sells 2, then 3 - 2 = 1 more, then nothing: 3 in all, not 6
    def level(minute: int) -> str:
        at = T0 + timedelta(minutes=minute)
        return f"floor|{BTC}|long|t{at.strftime('%Y%m%dT%H%M%S.%fZ')}"

    records = [
        _record("a", 1, "2", level(1)),
        _record("b", 2, "3", level(2)),
        _record("c", 3, "1", level(3)),
        _record("d", 4, "0.5", "ladder|BTC|long|e1|b0"),  # a one-shot step counts in full
    ]
    report = shadow_report("x", records, {BTC: D(49000)}, T0, T0 + hours(1))
    assert [line.counted for line in report.lines] == [D(2), D(1), D(0), D("0.5")]
    # every counted unit sold at 50 000 with the mark at 49 000: (2 + 1 + 0 + 0.5) x 1 000
    assert report.saved == D(3500)


def test_shadow_when_order_is_older_than_since_then_left_out() -> None:
    records = [_record("a", 1, "1", "s1"), _record("b", 90, "1", "s2")]
    report = shadow_report("x", records, {BTC: D(49000)}, T0 + hours(1), T0 + hours(2))
    assert [line.client_order_ids for line in report.lines] == [("b",)]


async def test_records_when_read_from_the_audit_log_then_one_per_client_id(tmp_path: Path) -> None:
    _, store, _ = await dry_run_account(tmp_path)
    records = would_place_records(store, "dry", None)
    assert sorted((r.symbol, r.quantity) for r in records) == [(BTC, D("0.5")), (ETH, D(5))]
