"""The sweep as grids (first swept parameter down, the other parameters' combinations across) of
three figures per variant: guarded final equity summed, guarded liquidations and the calm-market
cost (equity the guard gave up vs unguarded on the calm episodes); pure, printed as text."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from guard.lab.replay.sweep import Axis, SweepRow


def final_equity(row: SweepRow) -> Decimal:
    return sum((c.guarded.final_equity for c in row.cells), Decimal(0))


def liquidations(row: SweepRow) -> Decimal:
    return Decimal(sum(len(c.guarded.liquidations) for c in row.cells))


def calm_cost(row: SweepRow) -> Decimal:
    """Unguarded minus guarded final equity, summed over the calm episodes' cells."""
    return sum(
        (
            c.unguarded.final_equity - c.guarded.final_equity
            for c in row.cells
            if c.episode.source == "calm"
        ),
        Decimal(0),
    )


METRICS: tuple[tuple[str, Callable[[SweepRow], Decimal]], ...] = (
    ("guarded final equity (summed)", final_equity),
    ("guarded liquidations", liquidations),
    ("calm-market cost (unguarded − guarded on calm days)", calm_cost),
)


@dataclass(frozen=True, slots=True)
class Grid:
    """One metric over the variants: `values[i][j]` for row label i and column label j."""

    title: str
    row_title: str
    rows: tuple[str, ...]
    columns: tuple[str, ...]
    values: tuple[tuple[Decimal, ...], ...]


def grids(rows: Sequence[SweepRow], axes: Sequence[Axis]) -> list[Grid]:
    """The variants (in the sweep's order: the first axis outermost) laid out as grids."""
    if not axes or len(rows) % len(axes[0].values):
        raise ValueError("the sweep rows do not match its axes")
    down = axes[0].values
    across = len(rows) // len(down)
    columns = tuple(
        ", ".join(part.split("=", 1)[1] for part in row.label.split(", ")[1:]) or "-"
        for row in rows[:across]
    )
    found: list[Grid] = []
    for title, measure in METRICS:
        values = tuple(
            tuple(measure(rows[i * across + j]) for j in range(across)) for i in range(len(down))
        )
        found.append(Grid(title, axes[0].path, tuple(down), columns, values))
    return found


def text(grid: Grid) -> str:
    width = max(10, *(len(c) for c in grid.columns))
    first = max(len(grid.row_title), *(len(r) for r in grid.rows))
    lines = [
        grid.title,
        f"{grid.row_title:<{first}} " + " ".join(f"{c:>{width}}" for c in grid.columns),
    ]
    for label, values in zip(grid.rows, grid.values, strict=True):
        lines.append(f"{label:<{first}} " + " ".join(f"{v:>{width}.0f}" for v in values))
    return "\n".join(lines)
