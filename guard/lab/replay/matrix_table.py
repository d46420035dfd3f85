"""The acceptance matrix as a plain-text table with its verdict: 0 guarded liquidations, guarded
final equity ≥ 90 % of the half-liquidation stop in each run and ≥ it summed, no order on a calm
day at 10x and at most one at 20x; pure formatting of finished runs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from guard.lab.replay.matrix import Cell

FLOOR = Decimal("0.9")


@dataclass(frozen=True, slots=True)
class Verdict:
    failures: tuple[str, ...]
    guarded_total: Decimal
    stop_total: Decimal

    @property
    def met(self) -> bool:
        return not self.failures and self.guarded_total >= self.stop_total


def cell_failures(cell: Cell) -> list[str]:
    where = f"{cell.episode.name} {cell.position.label}"
    found: list[str] = []
    if cell.guarded.liquidations:
        found.append(f"{where}: {len(cell.guarded.liquidations)} guarded liquidation(s)")
    if cell.ratio < FLOOR:
        found.append(
            f"{where}: guarded {cell.guarded.final_equity:.0f} is {cell.ratio:.1%} of the "
            f"half-liquidation stop's {cell.stop.final_equity:.0f} (floor 90 %)"
        )
    if cell.episode.source == "calm":
        allowed = 0 if cell.position.leverage <= 10 else 1
        if cell.guarded.orders > allowed:
            found.append(
                f"{where}: {cell.guarded.orders} order(s) on a calm day (at most {allowed})"
            )
    return found


def verdict(cells: Sequence[Cell]) -> Verdict:
    failures = [failure for cell in cells for failure in cell_failures(cell)]
    guarded = sum((c.guarded.final_equity for c in cells), Decimal(0))
    stop = sum((c.stop.final_equity for c in cells), Decimal(0))
    return Verdict(tuple(failures), guarded, stop)


HEADER = (
    f"{'episode':<34} {'position':<9} {'unguarded':>9} {'liq':>3} {'guarded':>9} {'liq':>3} "
    f"{'ord':>3} {'first order':>16} {'½-liq stop':>10} {'liq':>3} {'ratio':>6}  ok"
)


def row(cell: Cell) -> str:
    first = cell.guarded.first_order_at
    shown = first.strftime("%m-%d %H:%M") if first is not None else "-"
    ok = "yes" if not cell_failures(cell) else "NO"
    return (
        f"{cell.episode.name:<34} {cell.position.label:<9} "
        f"{cell.unguarded.final_equity:>9.0f} {len(cell.unguarded.liquidations):>3} "
        f"{cell.guarded.final_equity:>9.0f} {len(cell.guarded.liquidations):>3} "
        f"{cell.guarded.orders:>3} {shown:>16} "
        f"{cell.stop.final_equity:>10.0f} {len(cell.stop.liquidations):>3} "
        f"{cell.ratio:>6.1%}  {ok}"
    )


def render(cells: Sequence[Cell], title: str = "") -> str:
    lines = [title] if title else []
    lines.append(HEADER)
    lines.extend(row(cell) for cell in cells)
    lines.append(summary(cells))
    return "\n".join(lines)


def summary(cells: Sequence[Cell]) -> str:
    """The totals line and the verdict, naming every run that misses the target."""
    lines: list[str] = []
    result = verdict(cells)
    share = result.guarded_total / result.stop_total if result.stop_total else Decimal(0)
    lines.append(
        f"{'total':<44} guarded {result.guarded_total:.0f}  half-liquidation stop "
        f"{result.stop_total:.0f}  ({share:.1%})"
    )
    lines.append("target met" if result.met else "target NOT met:")
    lines.extend(f"  - {failure}" for failure in result.failures)
    if not result.failures and result.guarded_total < result.stop_total:
        lines.append("the guarded total is below the stop's total")
    return "\n".join(lines)
