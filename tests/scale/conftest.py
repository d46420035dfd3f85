"""Scale-out fixtures: a freshly migrated PostgreSQL store (leases need PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from guard.store import Store
from tests.conftest import _reset_postgres


@pytest.fixture
def pg_store(postgres_url: str) -> Iterator[Store]:
    _reset_postgres(postgres_url)
    store = Store(postgres_url)
    store.upgrade()
    yield store
    store.dispose()
