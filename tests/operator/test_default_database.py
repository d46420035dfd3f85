"""One default database: the shipped paper example writes where every operator command reads by
default, so `guard status` / `guard audit tail` after `guard run --config examples/guard.paper.yaml`
need no --db."""

from __future__ import annotations

import pytest

from guard.operator.commands.common import DEFAULT_DATABASE, database_url
from guard.service.config import load_config
from tests.service.helpers import ROOT


def test_paper_example_when_loaded_then_its_database_is_the_cli_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GUARD_DATABASE_URL", raising=False)
    config = load_config(ROOT / "examples" / "guard.paper.yaml")
    assert config.service.database() == f"sqlite:///{DEFAULT_DATABASE}"
    assert database_url(None) == f"sqlite:///{DEFAULT_DATABASE}"
