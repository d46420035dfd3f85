"""The replay chart (PNG, matplotlib Agg): price, equity per run, margin ratio, each margin pool's
distance to liquidation per run, markers at every order and liquidation, and every guard order
labelled with its rule(s) and size."""

from __future__ import annotations

import bisect
from datetime import datetime
from pathlib import Path
from typing import Any  # matplotlib's Axes stubs take no datetimes: axes as plt gives them

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

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
    figure = build(setup, result)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=100)
    plt.close(figure)
    return out


def build(setup: ReplaySetup, result: ReplayResult) -> Figure:
    """The chart as a matplotlib figure (the caller saves and closes it)."""
    figure, (price_ax, equity_ax, ratio_ax, distance_ax) = plt.subplots(
        4, 1, figsize=(12, 11), sharex=True, gridspec_kw={"height_ratios": [2, 2, 1, 1.5]}
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
    _distances(distance_ax, result)
    _label_orders(price_ax, setup, result, relative)
    figure.autofmt_xdate()
    figure.tight_layout()
    return figure


def _distances(axis: Any, result: ReplayResult) -> None:
    """One line per run and margin pool: the pool's distance to liquidation, in % of the mark."""
    for run in result.runs:
        for pool, samples in sorted(run.trace.distances.items()):
            axis.plot(
                [t for t, _ in samples],
                [100 * d for _, d in samples],
                color=COLOURS[run.name],
                linewidth=0.8,
                linestyle="-" if pool == "cross" else "--",
                label=f"{run.name} {pool}",
            )
    axis.axhline(0.0, color="black", linestyle="--", linewidth=0.8)
    axis.set_ylabel("distance to liquidation (% of mark)")
    axis.legend(loc="best", fontsize="x-small", ncol=2)


def _label_orders(axis: Any, setup: ReplaySetup, result: ReplayResult, relative: bool) -> None:
    """Each guard order's fill, labelled '<rule(s)> <size>' on the price panel."""
    guarded = result.run("guarded")
    for fill in guarded.fills:
        price = float(fill.price)
        if relative:
            price = 100 * price / float(setup.path.price(fill.symbol, setup.start))
        rule = guarded.order_rules.get(fill.client_order_id, "?")
        axis.annotate(
            f"{rule} {fill.quantity.normalize():f}",
            (fill.at, price),
            xytext=(4, -12),
            textcoords="offset points",
            fontsize=7,
            rotation=-20,
            color=COLOURS["guarded"],
        )


def _value_at(times: list[datetime], values: list[float], moment: datetime) -> float:
    """The last sampled value at or before `moment` (samples are in time order)."""
    index = bisect.bisect_right(times, moment) - 1
    return values[max(index, 0)]
