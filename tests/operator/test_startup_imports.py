"""`guard run` starts fast: loading the CLI and the runner does not load ccxt (about half of a
process start; a restart during a database outage waits for it), nor the lab's chart libraries.
ccxt loads when a gateway or a stream is built."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_when_cli_and_runner_loaded_then_ccxt_and_charts_not_loaded() -> None:
    code = (
        "import sys\n"
        "import guard.operator.cli, guard.service.runner\n"
        "print(','.join(m for m in ('ccxt', 'ccxt.pro', 'matplotlib') if m in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert found.stdout.strip() == "", f"loaded at start-up: {found.stdout.strip()}"


def test_python_m_guard_when_run_then_same_cli_as_the_entry_point(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "guard", "check", str(ROOT / "policies" / "default.yaml")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "fingerprint" in done.stdout
