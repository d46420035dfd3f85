"""Console fixtures: a migrated store with one registered account and a served console."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from guard.operator.console.actions import ConsoleCommands
from guard.operator.console.http import ConsoleApi
from guard.service.logs import logging_to
from guard.service.metrics import Health, Metrics
from guard.service.web import WebEndpoint
from guard.store import AccountInfo, Scope, Store

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Served:
    base: str
    store: Store
    read: str  # secrets
    operate: str
    logs: io.StringIO


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(f"sqlite:///{tmp_path / 'guard.db'}")
    opened.upgrade()
    opened.register_accounts([AccountInfo("acct", "paper", False, Decimal(1))], NOW)
    opened.record_markets("acct", ["BTC/USDT:USDT"])
    yield opened
    opened.dispose()


@pytest.fixture
async def served(store: Store) -> AsyncIterator[Served]:
    _, read = store.create_token(name="viewer", scope=Scope.READ, actor="test", at=NOW)
    _, operate = store.create_token(name="ops", scope=Scope.OPERATE, actor="test", at=NOW)
    logs = io.StringIO()
    with logging_to(logs):
        endpoint = WebEndpoint(
            Metrics(Health()),
            store=store,
            metrics_need_token=True,
            extensions=[ConsoleApi(ConsoleCommands(store)).install],
        )
        _, port = await endpoint.serve(0, "127.0.0.1")
        try:
            yield Served(f"http://127.0.0.1:{port}", store, read, operate, logs)
        finally:
            await endpoint.close()
