"""`guard replay --holdout`: the acceptance table on the held-out episodes, with a fourth run per
cell (a plain 5 % stop, clamped inside liquidation) and the verdict against both stops; the runs
are the matrix's, the rest is pure formatting."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from guard.core.policy.schema import PolicySet
from guard.lab.replay.baselines import StopBaseline, StopKind
from guard.lab.replay.matrix import POSITIONS, Cell, Episode, Position, run_cell, setup_for
from guard.lab.replay.matrix_table import FLOOR, cell_failures, verdict
from guard.lab.replay.runner import RunResult, run_stop_loss

PLAIN = StopBaseline("stop_loss", StopKind.FIXED, Decimal("0.05"))


@dataclass(frozen=True, slots=True)
class HoldoutCell:
    """The matrix's three runs of one cell and the plain 5 % stop."""

    cell: Cell
    plain: RunResult

    @property
    def plain_ratio(self) -> Decimal:
        """Guarded final equity ÷ the plain stop's (1 when both are zero)."""
        guarded, plain = self.cell.guarded.final_equity, self.plain.final_equity
        if plain <= 0:
            return Decimal(1) if guarded >= 0 else Decimal(0)
        return guarded / plain


async def _run(episode: Episode, position: Position, policies: PolicySet) -> HoldoutCell:
    cell = await run_cell(episode, position, policies)
    plain = await run_stop_loss(setup_for(episode, position), PLAIN, PLAIN.name)
    return HoldoutCell(cell, plain)


def run_holdout(
    episodes: Sequence[Episode],
    policies: PolicySet,
    positions: Sequence[Position] = POSITIONS,
    progress: Callable[[HoldoutCell], None] | None = None,
) -> list[HoldoutCell]:
    cells: list[HoldoutCell] = []
    for episode in episodes:
        for position in positions:
            cell = asyncio.run(_run(episode, position, policies))
            cells.append(cell)
            if progress is not None:
                progress(cell)
    return cells


HOLDOUT_HEADER = (
    f"{'episode':<36} {'position':<9} {'unguarded':>9} {'liq':>3} {'guarded':>9} {'liq':>3} "
    f"{'ord':>3} {'first order':>11} {'½-liq stop':>10} {'liq':>3} {'ord':>3} "
    f"{'5% stop':>9} {'liq':>3} {'ord':>3} {'vs ½-liq':>8} {'vs 5%':>7}  ok"
)


def holdout_row(found: HoldoutCell) -> str:
    cell = found.cell
    first = cell.guarded.first_order_at
    shown = first.strftime("%m-%d %H:%M") if first is not None else "-"
    ok = "yes" if not cell_failures(cell) else "NO"
    return (
        f"{cell.episode.name:<36} {cell.position.label:<9} "
        f"{cell.unguarded.final_equity:>9.0f} {len(cell.unguarded.liquidations):>3} "
        f"{cell.guarded.final_equity:>9.0f} {len(cell.guarded.liquidations):>3} "
        f"{cell.guarded.orders:>3} {shown:>11} "
        f"{cell.stop.final_equity:>10.0f} {len(cell.stop.liquidations):>3} {cell.stop.orders:>3} "
        f"{found.plain.final_equity:>9.0f} {len(found.plain.liquidations):>3} "
        f"{found.plain.orders:>3} {cell.ratio:>8.1%} {found.plain_ratio:>7.1%}  {ok}"
    )


def holdout_summary(cells: Sequence[HoldoutCell]) -> str:
    """Totals of every run, the share and worst run against each stop, and the verdict of the
    acceptance table (against the half-liquidation stop), naming every miss."""
    if not cells:
        return "no held-out episodes"
    matrix = [c.cell for c in cells]
    result = verdict(matrix)
    unguarded = sum((c.unguarded.final_equity for c in matrix), Decimal(0))
    plain = sum((c.plain.final_equity for c in cells), Decimal(0))
    half_worst = min(matrix, key=lambda c: c.ratio)
    plain_worst = min(cells, key=lambda c: c.plain_ratio)
    liquidations = {
        "unguarded": sum(len(c.unguarded.liquidations) for c in matrix),
        "guarded": sum(len(c.guarded.liquidations) for c in matrix),
        "½-liq stop": sum(len(c.stop.liquidations) for c in matrix),
        "5% stop": sum(len(c.plain.liquidations) for c in cells),
    }
    orders = {
        "guarded": sum(c.guarded.orders for c in matrix),
        "½-liq stop": sum(c.stop.orders for c in matrix),
        "5% stop": sum(c.plain.orders for c in cells),
    }
    below_plain = sum(1 for c in cells if c.plain_ratio < FLOOR)
    lines = [
        f"final equity summed: unguarded {unguarded:.0f}  guarded {result.guarded_total:.0f}  "
        f"½-liq stop {result.stop_total:.0f}  5% stop {plain:.0f}",
        "liquidations: " + "  ".join(f"{k} {v}" for k, v in liquidations.items()),
        "orders: " + "  ".join(f"{k} {v}" for k, v in orders.items()),
        f"guarded vs ½-liq stop: summed {_share(result.guarded_total, result.stop_total)}, "
        f"worst {half_worst.ratio:.1%} ({half_worst.episode.name} {half_worst.position.label})",
        f"guarded vs 5% stop: summed {_share(result.guarded_total, plain)}, worst "
        f"{plain_worst.plain_ratio:.1%} ({plain_worst.cell.episode.name} "
        f"{plain_worst.cell.position.label}), {below_plain} run(s) under 90 %",
        "out-of-sample verdict: target met"
        if result.met
        else "out-of-sample verdict: target NOT met:",
    ]
    lines.extend(f"  - {failure}" for failure in result.failures)
    if not result.failures and result.guarded_total < result.stop_total:
        lines.append("  - the guarded total is below the half-liquidation stop's total")
    return "\n".join(lines)


def _share(part: Decimal, whole: Decimal) -> str:
    return f"{part / whole:.1%}" if whole > 0 else "n/a"
