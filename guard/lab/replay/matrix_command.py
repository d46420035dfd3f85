"""`guard replay --table` and `--sweep`: the acceptance matrix of one policy, or of every variant
of a parameter grid, printed as plain text on stdout (logs: warnings only, on stderr)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import structlog

from guard.core.yaml_model import ConfigError
from guard.lab.replay.holdout import holdout_episodes
from guard.lab.replay.holdout_fresh import fresh_episodes
from guard.lab.replay.holdout_table import (
    HOLDOUT_HEADER,
    holdout_row,
    holdout_summary,
    run_holdout,
)
from guard.lab.replay.holdout_third import third_episodes
from guard.lab.replay.matrix import Episode, calm_day, real_episodes, run_matrix, scenario_episodes
from guard.lab.replay.matrix_table import HEADER, row, summary
from guard.lab.replay.sweep import SWEEP_HEADER, Axis, SweepRow, parse_axis, sweep, variants
from guard.lab.replay.sweep_grid import grids, text
from guard.service.files import load_policies, read_config_text
from guard.service.logs import configure


def episodes(market_dir: Path, only: Sequence[str]) -> list[Episode]:
    """Real episodes (when the folder is there), every scenario and the calm day."""
    found = [*real_episodes(market_dir), *scenario_episodes(), calm_day()]
    if not any(e.source == "real" for e in found):
        print(
            f"no real episodes under {market_dir}: scenarios and the calm day only", file=sys.stderr
        )
    return [e for e in found if not only or any(word in e.name for word in only)]


def run_matrix_command(
    policy: Path,
    axes: Sequence[str],
    market_dir: Path,
    only: Sequence[str],
    *,
    holdout: str | None = None,
    out: Path | None = None,
) -> None:
    previous = structlog.get_config()
    configure(stream=sys.stderr, level=logging.WARNING)
    try:
        if holdout is not None:
            _holdout(policy, market_dir, only, holdout)
            return
        chosen = episodes(market_dir, only)
        if axes:
            try:
                parsed = [parse_axis(raw) for raw in axes]
                candidates = variants(read_config_text(policy), str(policy), parsed)
            except (ConfigError, ValueError) as error:
                print(f"error: {error}", file=sys.stderr)
                raise SystemExit(2) from error
            print(SWEEP_HEADER, flush=True)
            rows = sweep(chosen, candidates, each=lambda r: print(r.text(), flush=True))
            _heatmap(rows, parsed, out)
            return
        try:
            policies = load_policies([policy])
        except ConfigError as error:
            print(f"error: {error}", file=sys.stderr)
            raise SystemExit(2) from error
        print(HEADER, flush=True)
        cells = run_matrix(chosen, policies, progress=lambda c: print(row(c), flush=True))
        print(summary(cells))
    finally:
        structlog.configure(**previous)


def _holdout(policy: Path, market_dir: Path, only: Sequence[str], which: str) -> None:
    """The acceptance table on a held-out set (`third`, the default; `second`; `first`, seen:
    docs/replay.md says which policy was tuned on which), with a plain 5 % stop as a fourth run."""
    try:
        policies = load_policies([policy])
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from error
    seen = which == "first"
    found = (
        holdout_episodes(market_dir)
        if seen
        else (fresh_episodes() if which == "second" else third_episodes())
    )
    if seen and not any(e.source == "real" for e in found):
        print(f"no {market_dir}: the mirrored real episode is left out", file=sys.stderr)
    chosen = [e for e in found if not only or any(word in e.name for word in only)]
    print(HOLDOUT_HEADER, flush=True)
    cells = run_holdout(chosen, policies, progress=lambda c: print(holdout_row(c), flush=True))
    print(holdout_summary(cells))


def _heatmap(rows: Sequence[SweepRow], axes: Sequence[Axis], out: Path | None) -> None:
    """The sweep's grids as text on stdout and as a PNG heatmap (in `out`, else var/replay)."""
    found = grids(rows, axes)
    for grid in found:
        print(f"\n{text(grid)}")
    try:
        from guard.lab.replay.sweep_chart import draw_heatmap  # matplotlib: the lab extra
    except ImportError as error:
        print(f"no heatmap PNG ({error}): pip install 'guard[lab]'", file=sys.stderr)
        return
    folder = out or Path("var/replay") / datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    print(f"\nheatmap: {draw_heatmap(found, folder / 'sweep-heatmap.png')}")
