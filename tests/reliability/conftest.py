"""Fixtures of the reliability tests: a private PostgreSQL cluster per module (stopped and started
by the tests; the shared server is never touched) and its public schema emptied per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from tests.reliability.pgcluster import PgCluster, remove_cluster, start_private_cluster


@pytest.fixture(scope="module")
def cluster() -> Iterator[PgCluster]:
    started = start_private_cluster()
    yield started
    remove_cluster(started)


@pytest.fixture
def pg(cluster: PgCluster) -> PgCluster:
    """The module's cluster, running, with an empty public schema."""
    if not cluster.running():
        cluster.start()
    engine = create_engine(cluster.url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return cluster
