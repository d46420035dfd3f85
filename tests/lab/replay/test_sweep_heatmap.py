"""`guard replay --sweep`'s heatmap: the variants laid out as grids (first parameter down, the
others across) of guarded final equity, guarded liquidations and calm-market cost, printed as
text and drawn as a PNG (checked on the matplotlib figure); on a short wick and a calm stretch."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from guard.core.domain import Side
from guard.gateway.paper.path import Knots
from guard.lab.replay.holdout import synthetic_episodes
from guard.lab.replay.matrix import Episode, calm_day
from guard.lab.replay.matrix_command import _heatmap
from guard.lab.replay.sweep import SweepRow, parse_axis, sweep, variants
from guard.lab.replay.sweep_chart import build_heatmap
from guard.lab.replay.sweep_grid import calm_cost, final_equity, grids, liquidations, text

ROOT = Path(__file__).resolve().parents[3]
AXIS = "liquidation-ladder.bands[0].trigger=40%,45%"


def _cut(episode: Episode, minutes: int, name: str) -> Episode:
    """The episode's first `minutes` (its knots are one a minute)."""

    def knots(side: Side) -> Knots:
        return episode.knots(side)[: minutes + 1]

    return replace(episode, name=name, knots=knots)


@pytest.fixture(scope="module")
def rows() -> list[SweepRow]:
    [wick] = [e for e in synthetic_episodes() if "V rebound" in e.name]
    policy = ROOT / "policies" / "default.yaml"
    candidates = variants(policy.read_text(), str(policy), [parse_axis(AXIS)])
    episodes = [_cut(wick, 110, "wick"), _cut(calm_day(seed=1605), 90, "calm 1.5h")]
    return sweep(episodes, candidates)


def test_grids_when_one_axis_then_one_column_of_each_metric_per_variant(
    rows: list[SweepRow],
) -> None:
    found = grids(rows, [parse_axis(AXIS)])
    assert [g.title.split(" (")[0] for g in found] == [
        "guarded final equity",
        "guarded liquidations",
        "calm-market cost",
    ]
    for grid, measure in zip(found, (final_equity, liquidations, calm_cost), strict=True):
        assert grid.rows == ("40%", "45%") and grid.columns == ("-",)
        assert grid.values == ((measure(rows[0]),), (measure(rows[1]),))
    calm_cells = [c for c in rows[0].cells if c.episode.source == "calm"]
    assert len(calm_cells) == 4
    assert calm_cost(rows[0]) == sum(
        (c.unguarded.final_equity - c.guarded.final_equity for c in calm_cells), Decimal(0)
    )


def test_grids_when_two_axes_then_first_down_and_second_across(rows: list[SweepRow]) -> None:
    first, second = parse_axis("a.x=1,2"), parse_axis("b.y=p,q")
    laid = [
        SweepRow("a.x=1, b.y=p", rows[0].cells),
        SweepRow("a.x=1, b.y=q", rows[1].cells),
        SweepRow("a.x=2, b.y=p", rows[1].cells),
        SweepRow("a.x=2, b.y=q", rows[0].cells),
    ]
    equity = grids(laid, [first, second])[0]
    assert equity.rows == ("1", "2") and equity.columns == ("p", "q")
    one, two = final_equity(rows[0]), final_equity(rows[1])
    assert equity.values == ((one, two), (two, one))
    with pytest.raises(ValueError, match="do not match"):
        grids(laid[:3], [first, second])


def test_heatmap_when_drawn_then_three_annotated_panels_and_png_written(
    rows: list[SweepRow], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    found = grids(rows, [parse_axis(AXIS)])
    figure = build_heatmap(found)
    try:
        assert len(figure.axes) == 3
        for axis, grid in zip(figure.axes, found, strict=True):
            assert axis.get_title() == grid.title
            assert [t.get_text() for t in axis.texts] == [
                f"{v:.0f}" for row in grid.values for v in row
            ]
    finally:
        plt.close(figure)
    _heatmap(rows, [parse_axis(AXIS)], tmp_path)
    printed = capsys.readouterr().out
    assert (tmp_path / "sweep-heatmap.png").stat().st_size > 0
    assert f"heatmap: {tmp_path / 'sweep-heatmap.png'}" in printed
    for grid in found:
        assert text(grid) in printed
    path = parse_axis(AXIS).path
    assert f"{'40%':<{len(path)}} {final_equity(rows[0]):>10.0f}" in printed  # first grid's row
