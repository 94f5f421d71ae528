"""Fixtures of the request store's database tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from services.request_store.store import Store
from tests.request_store.cores import store_core


@pytest.fixture
def store(new_database_url: Callable[[], str], tmp_path: Path) -> Iterator[Store]:
    """The store of a request store core on a new, migrated database (SQLite or PostgreSQL,
    as the run chooses); its engine is disposed after the test. (test_pg_round_trips.py has
    its own ``store``, with the server's connection id.)"""
    core = store_core(new_database_url(), tmp_path)
    yield core.store
    core.store.engine.dispose()
