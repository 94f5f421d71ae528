"""The store's PostgreSQL round trips: reads run without BEGIN and ROLLBACK, and a pooled
connection is checked with ``SELECT 1`` only after it sat idle (store._ping_when_idle).

Expected behaviour comes from PostgreSQL's documentation: under READ COMMITTED each statement
takes its own snapshot, so a read's statements see what they would see inside a transaction;
``transaction_timestamp()`` equals ``statement_timestamp()`` only for a statement that began
its own transaction; ``pg_terminate_backend`` closes a session as a server restart would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from services.common.errors import ExternalServiceError
from services.request_store import store as store_module
from services.request_store.service import CallContext
from services.request_store.store import Store, make_engine
from tests.conftest import database_backend
from tests.gateway.test_responses import BODIES
from tests.request_store.cores import store_core

pytestmark = [
    pytest.mark.db,
    pytest.mark.skipif(database_backend() != "postgresql", reason="PostgreSQL sessions"),
]
ONE_STATEMENT_TRANSACTION = text("SELECT transaction_timestamp() = statement_timestamp()")


@pytest.fixture
def store(new_database_url: Callable[[], str], tmp_path: Path) -> Iterator[tuple[Store, int]]:
    """A store on one pooled connection, over a migrated database holding one request."""
    url = new_database_url()
    core = store_core(url, tmp_path)
    call = CallContext(user="tbrady@DOMAIN.LOCAL", base_url="http://iib.example.com")
    (view,) = core.accept("add", dict(BODIES["add"]), call, "")
    core.store.engine.dispose()
    engine = make_engine(url, pool_size=1)
    yield Store(engine, core.store.secrets), view.id
    engine.dispose()


def _backend(store: Store) -> int:
    with store.engine.connect() as conn:
        pid: int = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        conn.rollback()
    return pid


def _terminate(store: Store, pid: int) -> None:
    """Close session ``pid`` from another session, as a restarted server would."""
    other = make_engine(str(store.engine.url.render_as_string(hide_password=False)), pool_size=1)
    try:
        with other.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    finally:
        other.dispose()


def test_a_read_sends_no_begin_and_a_write_still_runs_in_one_transaction(
    store: tuple[Store, int],
) -> None:
    s, request_id = store
    with s._read() as conn:
        conn.execute(text("SELECT pg_sleep(0.02)"))
        assert conn.execute(ONE_STATEMENT_TRANSACTION).scalar() is True
        # the view's own statements run on this connection as they did in a transaction
        assert s.views([request_id], True, conn)[0].id == request_id
    # the same pooled connection, back in transaction mode for a write
    with s._write() as conn:
        conn.execute(text("SELECT pg_sleep(0.02)"))
        assert conn.execute(ONE_STATEMENT_TRANSACTION).scalar() is False
    with pytest.raises(RuntimeError), s._write() as conn:
        conn.execute(text("CREATE TABLE rolled_back (x int)"))
        raise RuntimeError("abandon the write")
    with s._read() as conn:
        assert conn.execute(text("SELECT to_regclass('rolled_back')")).scalar() is None


@pytest.mark.parametrize(
    ("window", "first_call_fails"),
    [
        # idle longer than the window: checked, found dead, replaced before use
        (0.0, False),
        # within the window: not checked; the call fails and invalidates the pool
        (3600.0, True),
    ],
)
# read before: the session has prepared the view statements, so the failing call is their
# EXECUTE on psycopg2's cursor (Store._view_rows) rather than SQLAlchemy's PREPARE
@pytest.mark.parametrize("read_before", [False, True])
def test_a_connection_the_server_closed_is_replaced_at_the_latest_after_one_failed_call(
    store: tuple[Store, int],
    monkeypatch: pytest.MonkeyPatch,
    window: float,
    first_call_fails: bool,
    read_before: bool,
) -> None:
    s, request_id = store
    monkeypatch.setattr(store_module, "PING_AFTER_IDLE", window)
    if read_before:
        assert s.view(request_id).id == request_id
    pid = _backend(s)
    _terminate(s, pid)
    if first_call_fails:
        with pytest.raises(ExternalServiceError):
            s.view(request_id)
    assert s.view(request_id).id == request_id
    assert _backend(s) != pid
