"""Fixtures shared by the whole suite: the database under test.

``IIB_TEST_DATABASE=postgresql`` runs the database-backed tests (marked ``db``) against a real
PostgreSQL cluster started from Debian's packages; otherwise they use SQLite files.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from services.tooling.servers.postgres import PostgresServer, start_postgres

REPO = Path(__file__).resolve().parents[1]
_counter = itertools.count(1)


def database_backend() -> str:
    return os.environ.get("IIB_TEST_DATABASE", "sqlite")


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer | None]:
    if database_backend() != "postgresql":
        yield None
        return
    # Not under pytest's tmp dir: that one is private to root and the cluster runs as postgres.
    base = Path(tempfile.mkdtemp(prefix="iib-test-pg-"))
    server = start_postgres(base)
    yield server
    server.stop()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def new_database_url(
    postgres_server: PostgresServer | None, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[], str]:
    """Returns a factory: each call gives the URL of a fresh, empty database."""

    def make() -> str:
        n = next(_counter)
        if postgres_server is not None:
            return postgres_server.create_database(f"iib_test_{n}")
        return f"sqlite:///{tmp_path_factory.mktemp('db')}/iib_{n}.db"

    return make
