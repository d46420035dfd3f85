"""The stress report as a chart (PNG, matplotlib Agg): per shock, each margin pool's buffer left
(equity - maintenance) after the shock; red bars are pools that would liquidate."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from guard.core.reports.stress_report import StressReport


def draw_stress(report: StressReport, out: Path) -> Path:
    """Write the chart of `report` to `out` and return it."""
    pools = sorted({p.pool for o in report.outcomes for p in o.pools})
    shocks = [o.shock.name for o in report.outcomes]
    width = 0.8 / max(len(pools), 1)
    figure, axis = plt.subplots(figsize=(max(8, 1.4 * len(shocks)), 5))
    for index, pool in enumerate(pools):
        xs, heights, colours = [], [], []
        for position, outcome in enumerate(report.outcomes):
            found = next((p for p in outcome.pools if p.pool == pool), None)
            if found is None:
                continue
            xs.append(position + (index - (len(pools) - 1) / 2) * width)
            heights.append(float(found.equity - found.maintenance_margin))
            colours.append("tab:red" if found.liquidated else "tab:green")
        axis.bar(xs, heights, width=width, color=colours, edgecolor="black", linewidth=0.4)
        for x, height in zip(xs, heights, strict=True):
            axis.annotate(pool, (x, height), ha="center", va="bottom", fontsize=7, rotation=90)
    axis.axhline(0, color="black", linewidth=0.8)
    axis.set_xticks(range(len(shocks)), shocks, rotation=20, ha="right")
    axis.set_ylabel("equity - maintenance after the shock")
    axis.set_title(
        f"stress of {report.account} ({report.venue}) at {report.taken_at:%Y-%m-%d %H:%M} UTC: "
        "red pools liquidate"
    )
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return out
