"""The sweep's heatmap (PNG, matplotlib Agg): one panel per grid of sweep_grid (final equity,
liquidations, calm-market cost), every cell annotated with its value."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from guard.lab.replay.sweep_grid import Grid


def build_heatmap(found: Sequence[Grid]) -> Figure:
    """The heatmap as a figure (the caller saves and closes it)."""
    columns = len(found[0].columns) if found else 1
    figure, axes = plt.subplots(
        1, len(found), figsize=(max(6, 1.6 * columns) * len(found), 4), squeeze=False
    )
    for axis, grid in zip(axes[0], found, strict=True):
        values = [[float(v) for v in row] for row in grid.values]
        axis.imshow(values, cmap="viridis", aspect="auto")
        axis.set_title(grid.title, fontsize=9)
        axis.set_ylabel(grid.row_title, fontsize=8)
        axis.set_yticks(range(len(grid.rows)), grid.rows)
        axis.set_xticks(range(len(grid.columns)), grid.columns, rotation=20, ha="right")
        for i, row in enumerate(grid.values):
            for j, value in enumerate(row):
                axis.annotate(f"{value:.0f}", (j, i), ha="center", va="center", color="white")
    figure.tight_layout()
    return figure


def draw_heatmap(found: Sequence[Grid], out: Path) -> Path:
    figure = build_heatmap(found)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=100)
    plt.close(figure)
    return out
