"""`guard replay --sweep`: a policy file's parameters varied over a grid (e.g.
`liquidation-ladder.bands[0].trigger=30%,35%,40%`), each variant validated like any policy file and
run through the acceptance matrix; one summary row per variant. Deterministic."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import yaml

from guard.core.policy.loading import policy_set
from guard.core.policy.schema import PolicySet
from guard.lab.replay.matrix import Cell, Episode, run_matrix
from guard.lab.replay.matrix_table import FLOOR, verdict

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


@dataclass(frozen=True, slots=True)
class Axis:
    """One swept parameter: a path into the policy (rule id first) and its values."""

    path: str
    values: tuple[str, ...]


def parse_axis(raw: str) -> Axis:
    """'rule-id.field[0].sub=v1,v2' -> Axis; a clear ValueError otherwise."""
    path, sep, values = raw.partition("=")
    choices = tuple(v.strip() for v in values.split(",") if v.strip())
    if not sep or not path.strip() or not choices:
        raise ValueError(
            f"--sweep {raw!r}: expected RULE.FIELD=V1,V2,... e.g. "
            f"'liquidation-ladder.bands[0].trigger=30%,35%'"
        )
    return Axis(path.strip(), choices)


def _set(document: dict[str, Any], path: str, value: str) -> None:
    steps = [
        m.group(1) if m.group(1) is not None else int(m.group(2)) for m in _STEP.finditer(path)
    ]
    rule_id, rest = steps[0], steps[1:]
    rules = document.get("rules") or []
    target: Any = next((r for r in rules if isinstance(r, dict) and r.get("id") == rule_id), None)
    if target is None or not rest:
        known = ", ".join(str(r.get("id")) for r in rules if isinstance(r, dict))
        raise ValueError(f"--sweep {path}: no rule {rule_id!r} with a field there (rules: {known})")
    for step in rest[:-1]:
        try:
            target = target[step]
        except (KeyError, IndexError, TypeError):
            raise ValueError(f"--sweep {path}: {step!r} is not in the policy") from None
    parsed: Any = yaml.safe_load(value)
    if isinstance(rest[-1], int):
        target[rest[-1]] = parsed
    else:
        target[rest[-1]] = parsed if not isinstance(parsed, float) else value


def variants(text: str, source: str, axes: Sequence[Axis]) -> list[tuple[str, PolicySet]]:
    """Every combination of the axes' values applied to the policy text, validated."""
    base = yaml.safe_load(text)
    if not isinstance(base, dict):
        raise ValueError(f"{source}: a policy file is a mapping")
    found: list[tuple[str, PolicySet]] = []
    for combination in itertools.product(*(axis.values for axis in axes)):
        document = yaml.safe_load(yaml.safe_dump(base))
        label = ", ".join(f"{a.path}={v}" for a, v in zip(axes, combination, strict=True))
        for axis, value in zip(axes, combination, strict=True):
            _set(document, axis.path, value)
        found.append((label, policy_set([(f"{source} [{label}]", yaml.safe_dump(document))])))
    return found


@dataclass(frozen=True, slots=True)
class SweepRow:
    label: str
    cells: tuple[Cell, ...]

    def text(self) -> str:
        result = verdict(self.cells)
        share = result.guarded_total / result.stop_total if result.stop_total else Decimal(0)
        liquidations = sum(len(c.guarded.liquidations) for c in self.cells)
        below = sum(1 for c in self.cells if c.ratio < FLOOR)
        worst = min((c.ratio for c in self.cells), default=Decimal(0))
        calm = sum(c.guarded.orders for c in self.cells if c.episode.source == "calm")
        return (
            f"{self.label:<60} {result.guarded_total:>9.0f} {result.stop_total:>9.0f} "
            f"{share:>7.1%} {liquidations:>4} {below:>5} {worst:>7.1%} {calm:>5}  "
            f"{'met' if result.met else 'not met'}"
        )


SWEEP_HEADER = (
    f"{'variant':<60} {'guarded':>9} {'½-liq':>9} {'share':>7} {'liq':>4} {'<90%':>5} "
    f"{'worst':>7} {'calm':>5}  target"
)


def sweep(
    episodes: Sequence[Episode],
    candidates: Sequence[tuple[str, PolicySet]],
    each: Callable[[SweepRow], None] | None = None,
) -> list[SweepRow]:
    rows: list[SweepRow] = []
    for label, policies in candidates:
        row = SweepRow(label, tuple(run_matrix(episodes, policies)))
        rows.append(row)
        if each is not None:
            each(row)
    return rows
