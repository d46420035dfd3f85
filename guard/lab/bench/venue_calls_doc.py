"""The '(f) Venue calls' section of docs/benchmarks.md from the bench's counts (pure): the table
per venue and account count, Hyperliquid's documented weight per account and what the IP's weight
window carries at 5 s ticks, and the splice that replaces the section in the document."""

from __future__ import annotations

import math

from guard.gateway.ccxt.budget import LIMITS
from guard.lab.bench.venue_calls import TICK, VenueCalls

TARGETS = {"hyperliquid": 1.0, "dydx": 1.0}  # private calls per account per tick (else 3)


def _verdict(value: float, target: float) -> str:
    return "ok" if value <= target + 1e-9 else "MISSED"


def table(found: list[VenueCalls]) -> list[str]:
    """The markdown table of the measured counts (one row per venue and account count)."""
    rows = [
        "| venue | accounts | target | steady | mode re-read tick | worst tick | average over"
        " the mode period | crash tick: reads, send ≤ `reread_fresh` after the snapshot | crash"
        " tick: send later | crash tick: two slices | crash tick: order requests | public /"
        " venue / tick, steady | public, crash tick |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in found:
        target = TARGETS.get(r.venue, 3.0)
        rows.append(
            f"| {r.venue} | {r.accounts:,} | ≤ {target:g} | {r.steady_private:.2f} |"
            f" {r.mode_private:.2f} | {r.worst_tick:.2f} ({_verdict(r.worst_tick, target)}) |"
            f" {r.average:.3f} ({_verdict(r.average, target)}) | {r.crash_reads:.2f} |"
            f" {r.crash_late_reads:.2f} | {r.crash_two_slices:.2f} | {r.crash_writes:.2f} |"
            f" {r.steady_public:.2f} | {r.crash_public:.0f} |"
        )
    return rows


def section(found: list[VenueCalls], command: str, load_before: str, load_after: str) -> str:
    """The '(f) Venue calls' section of docs/benchmarks.md."""
    ttl = found[0].mode_ttl_s / 60 if found else 0.0
    lines = [
        "## (f) Venue calls per account per tick (ccxt gateways, venue lab)",
        "",
        f"`{command}`; load average before {load_before}, after {load_after} (counts do not"
        " depend on load). Each venue gateway holds N accounts (one ccxt client each, one"
        " shared public client); every request ccxt builds and signs is answered by the venue"
        " lab's module for that venue in process (no socket) over the crash scenario. Private:"
        " the account's own client (reads; order requests counted apart); public: the venue's"
        " shared client. Steady: ticks 5 s apart after the first (which loads markets, tables"
        " and account modes). The mode re-read tick comes once per `account_mode_ttl`"
        f" ({ttl:g} min; each account after a stable share of it between half and all, so not"
        " all on one tick) or when a position opens; here the clock jumps past it, so every"
        " account re-reads on that tick. Worst tick = the most of steady, mode re-read and"
        " crash tick (one slice sent within `reread_fresh` of the snapshot); average = steady"
        " plus the mode tick's extra reads times each account's share of mode ticks (1 / the"
        " ticks between its re-reads, averaged over the accounts). Crash ticks are ten minutes"
        " into the cascade, every account reducing its largest position: the executor's re-read"
        " before the send is the tick's own snapshot when that was taken at most"
        " `reread_fresh` (1 s) before and nothing was sent for the account since, else one read"
        " (the one-symbol position call; Hyperliquid and dYdX: their whole-account read) —"
        " 'send later' moves the clock past `reread_fresh` between snapshot and send; 'two"
        " slices' sends two: the second re-reads, except on Hyperliquid when the first slice's"
        ' order answer stated its fill (`{"filled": {"totalSz": …}}`: the snapshot less that'
        " fill stands for the re-read). Every bench account of a venue reduces the lab's one"
        " shared position, so with many accounts the lab refuses the slices sent once it is"
        " used up; an account whose first slice was refused re-reads (the Hyperliquid rows"
        " with many accounts). Order requests: dYdX's include its block height and account"
        " sequence reads.",
        "",
        *table(found),
        "",
        *hyperliquid_weight_lines(found),
    ]
    return "\n".join(lines)


def hyperliquid_weight_lines(found: list[VenueCalls]) -> list[str]:
    """Hyperliquid's private reads in the venue's own unit: the documented weight per account
    per tick (clearinghouseState 2, userAbstraction 20, ...), averaged over the mode period,
    and how many accounts' polls fit the routine share of one IP's weight window at 5 s ticks
    after the shared public reads."""
    rows = [r for r in found if r.venue == "hyperliquid" and r.steady_weight > 0]
    if not rows:
        return []
    r = max(rows, key=lambda row: row.accounts)
    limits = LIMITS["hyperliquid"]
    ticks = limits.window / TICK.total_seconds()  # polls per window
    average = r.steady_weight + (r.mode_weight - r.steady_weight) * r.mode_share
    routine = limits.weight * (1 - limits.reserve)
    fits = max(0, math.floor((routine - r.public_weight * ticks) / (average * ticks)))
    return [
        f"Hyperliquid in its documented weight (budget.hyperliquid_weight; {r.accounts:,}"
        f" accounts): private reads {r.steady_weight:g} per account per steady tick,"
        f" {r.mode_weight:g} on the mode re-read tick, {average:.3f} averaged over the mode"
        f" period (the mode tick's one extra call weighs {r.mode_weight - r.steady_weight:g});"
        f" public reads {r.public_weight:g} per tick. One egress IP's"
        f" {limits.weight:g} per {limits.window:g} s, {routine:g} of it for routine reads, carries"
        f" the polls of at most {fits:,} accounts at {TICK.total_seconds():g} s ticks: more"
        " accounts on one IP wait in the budget (their snapshots age, so sends come later"
        " than `reread_fresh` and re-read: the 'send later' column) or need more egress IPs.",
        "",
    ]


HEADING = "## (f) Venue calls per account per tick"


def splice(document: str, new_section: str) -> str:
    """`document` (docs/benchmarks.md) with its (f) section replaced by `new_section` (added
    before the closing notes when it has none); the other sections keep their figures."""
    lines = document.split("\n")
    start = next((i for i, line in enumerate(lines) if line.startswith(HEADING)), None)
    if start is None:
        anchor = next(
            (i for i, line in enumerate(lines) if line.startswith("## What limits")), len(lines)
        )
        return "\n".join(
            [*lines[:anchor], *new_section.rstrip("\n").split("\n"), "", *lines[anchor:]]
        )
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return "\n".join([*lines[:start], *new_section.rstrip("\n").split("\n"), "", *lines[end:]])
