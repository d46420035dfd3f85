"""The replay chart (PNG, matplotlib Agg): price, equity per run, margin ratio, and markers at
every order and liquidation."""

from __future__ import annotations

import bisect
from datetime import datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from guard.lab.replay.runner import ReplayResult
from guard.lab.replay.setup import ReplaySetup

COLOURS = {
    "unguarded": "tab:red",
    "guarded": "tab:green",
    "stop_loss": "tab:blue",
    "stop_half_liq": "tab:orange",
    "liq_buffer": "tab:gray",
}
ORDER_MARKERS = {"guarded": "v", "stop_loss": "s", "stop_half_liq": "s", "liq_buffer": "s"}
PRICE_COLOURS = ("tab:purple", "tab:brown", "tab:gray", "tab:olive", "tab:cyan", "tab:pink")


def draw(setup: ReplaySetup, result: ReplayResult, out: Path) -> Path:
    """Write the chart to `out` and return it."""
    figure, (price_ax, equity_ax, ratio_ax) = plt.subplots(
        3, 1, figsize=(12, 9), sharex=True, gridspec_kw={"height_ratios": [2, 2, 1]}
    )
    times = result.unguarded.trace.times
    symbols = setup.symbols
    relative = len(symbols) > 1
    for index, symbol in enumerate(symbols):
        prices = [float(setup.path.price(symbol, t)) for t in times]
        if relative:
            first = prices[0]
            prices = [100 * p / first for p in prices]
        price_ax.plot(
            times,
            prices,
            linewidth=0.8,
            label=symbol,
            color=PRICE_COLOURS[index % len(PRICE_COLOURS)],
        )
    price_ax.set_ylabel("price (% of start)" if relative else f"{symbols[0]} mark")
    for run in result.runs:
        colour = COLOURS[run.name]
        marker = ORDER_MARKERS.get(run.name)
        if marker is not None and run.fills:
            fill_prices = [
                100 * float(f.price / setup.path.price(f.symbol, setup.start))
                if relative
                else float(f.price)
                for f in run.fills
            ]
            price_ax.scatter(
                [f.at for f in run.fills],
                fill_prices,
                marker=marker,
                color=colour,
                zorder=3,
                label=f"{run.name} orders",
            )
        equity_ax.plot(run.trace.times, run.trace.equity, color=colour, linewidth=1, label=run.name)
        ratio_ax.plot(run.trace.times, run.trace.margin_ratio, color=colour, linewidth=0.8)
        if marker is not None and run.fills:
            at = [f.at for f in run.fills]
            equity_ax.scatter(
                at,
                [_value_at(run.trace.times, run.trace.equity, t) for t in at],
                marker=marker,
                color=colour,
                zorder=3,
            )
        for event in run.liquidations:
            for axis, values in ((equity_ax, run.trace.equity), (ratio_ax, run.trace.margin_ratio)):
                axis.scatter(
                    [event.at],
                    [_value_at(run.trace.times, values, event.at)],
                    marker="X",
                    s=80,
                    color=colour,
                    edgecolor="black",
                    zorder=4,
                )
            price_ax.axvline(event.at, color=colour, linestyle=":", linewidth=1)
    ratio_ax.axhline(1.0, color="black", linestyle="--", linewidth=0.8)
    ratio_ax.set_ylim(0, 1.2)
    ratio_ax.set_ylabel("margin ratio (mm ÷ equity)")
    equity_ax.set_ylabel("equity")
    price_ax.legend(loc="best", fontsize="small")
    equity_ax.legend(loc="best", fontsize="small")
    price_ax.set_title(f"guard replay: {setup.name} (X = liquidation, ▼ guard order, ■ stop-loss)")
    figure.autofmt_xdate()
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=100)
    plt.close(figure)
    return out


def _value_at(times: list[datetime], values: list[float], moment: datetime) -> float:
    """The last sampled value at or before `moment` (samples are in time order)."""
    index = bisect.bisect_right(times, moment) - 1
    return values[max(index, 0)]
