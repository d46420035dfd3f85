"""The folders are the layers: import-linter's contracts hold, each contract catches a forbidden
import planted in a copy of the tree, no import circle exists in guard/, and no module is too big
to read in one sitting."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
MAX_LINES = 400
# One cohesive table of data each: allowed past MAX_LINES (none today).
DATA_TABLES: frozenset[str] = frozenset()


def _lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_lint_imports_when_tree_as_committed_then_every_contract_kept() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.fixture(scope="module")
def tree_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tree = tmp_path_factory.mktemp("tree")
    shutil.copytree(ROOT / "guard", tree / "guard", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree


PLANTED = [
    ("guard/core/margin.py", "import time", "The pure core imports no I/O"),
    ("guard/core/policy/schema.py", "import guard.store", "Packages are layers"),
    ("guard/core/domain.py", "import guard.core.margin", "Inside the core, layers point one way"),
    ("guard/service/tick.py", "import guard.lab.demo", "Only the CLI's lab commands import"),
    ("guard/operator/commands/lock.py", "import guard.lab.demo", "Only the CLI's lab commands"),
    ("guard/gateway/paper/venue.py", "import ccxt", "Only the ccxt gateway imports ccxt"),
    ("guard/service/runner.py", "import sqlalchemy", "Only the store imports the database"),
    ("guard/store/tables.py", "import guard.gateway.base", "Packages are layers"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("module", "planted", "contract"), PLANTED)
def test_lint_imports_when_forbidden_import_planted_then_contract_broken(
    tree_copy: Path, module: str, planted: str, contract: str
) -> None:
    path = tree_copy / module
    original = path.read_text()
    path.write_text(original + f"\n{planted}  # planted by the architecture test\n")
    try:
        result = _lint_imports(tree_copy)
    finally:
        path.write_text(original)
    assert result.returncode != 0, f"planting {planted!r} in {module} broke no contract"
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, result.stdout


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work: list[tuple[str, list[str]]] = [(start, sorted(edges[start]))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, todo = work[-1]
            if todo:
                nxt = todo.pop()
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(edges.get(nxt, ()))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_cycles_when_graph_has_a_loop_then_found() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_imports_when_guard_graph_built_then_no_module_circle() -> None:
    graph = grimp.build_graph("guard", cache_dir=None)
    edges = {
        module: {m for m in graph.find_modules_directly_imported_by(module) if m in graph.modules}
        for module in graph.modules
    }
    assert _cycles(edges) == []


def test_module_size_when_measured_then_none_over_limit_but_data_tables() -> None:
    too_big = {
        str(path.relative_to(ROOT)): lines
        for path in sorted((ROOT / "guard").rglob("*.py"))
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
        and str(path.relative_to(ROOT)) not in DATA_TABLES
    }
    assert too_big == {}
