"""The database schema: Alembic migrations produce exactly the models' schema (SQLite and
PostgreSQL), and upgrading twice is harmless."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from services.request_store.db import upgrade
from services.request_store.models import Base
from services.request_store.store import make_engine

pytestmark = pytest.mark.db


def test_migrations_match_the_models(new_database_url: Callable[[], str]) -> None:
    engine = make_engine(new_database_url())
    upgrade(engine)
    upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_postgresql_sessions_run_without_parallel_query(
    new_database_url: Callable[[], str],
) -> None:
    # the store's statements are short and concurrent: no worker processes per statement
    url = new_database_url()
    if url.startswith("sqlite"):
        pytest.skip("PostgreSQL only")
    engine = make_engine(url, statement_timeout=7)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW max_parallel_workers_per_gather").scalar() == "0"
            assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "7s"
    finally:
        engine.dispose()
