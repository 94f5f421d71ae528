"""PostgreSQL reads views through server-side prepared statements (``Store._view_rows``).

The oracle is the store's other read path: the same three statements run by SQLAlchemy without
preparing (``IIB_DATABASE_PREPARE=false``, the path SQLite takes and test_responses.py checks
against IIB's contract). Both must give equal views, field for field, for every request type,
before and after a worker's PATCHes. PostgreSQL's own ``pg_prepared_statements`` view says
what a session has prepared.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from services.request_store import store as store_module
from services.request_store.service import CallContext, RequestStoreCore
from services.request_store.store import Store
from tests.conftest import database_backend
from tests.gateway.test_responses import BODIES
from tests.request_store.cores import WORKER, store_core

pytestmark = [
    pytest.mark.db,
    pytest.mark.skipif(
        database_backend() != "postgresql", reason="server-side prepared statements: PostgreSQL"
    ),
]
SUBMITTER = "tbrady@DOMAIN.LOCAL"
VIEW_STATEMENTS = {"iib_view_requests", "iib_view_items", "iib_view_history"}


@pytest.fixture
def core(new_database_url: Callable[[], str], tmp_path: Path) -> Iterator[RequestStoreCore]:
    core = store_core(new_database_url(), tmp_path)
    yield core
    core.store.engine.dispose()


def _submit_every_type(core: RequestStoreCore) -> list[int]:
    """One request of every type, the add and the rm patched as a worker patches them."""
    call = CallContext(user=SUBMITTER, base_url="http://iib.example.com")
    ids = [
        view.id
        for endpoint, body in sorted(BODIES.items())
        for view in core.accept(endpoint, copy.deepcopy(body), call, "")
    ]
    worker = CallContext(user=WORKER, base_url="http://iib.example.com")
    add_id, rm_id = ids[sorted(BODIES).index("add")], ids[sorted(BODIES).index("rm")]
    patches = [
        (
            add_id,
            {"state": "in_progress", "state_reason": "Building", "arches": ["amd64", "s390x"]},
        ),
        (
            add_id,
            {
                "state": "complete",
                "state_reason": "Done",
                "bundle_mapping": {"op-b": ["q.io/ns/b1:1", "q.io/ns/b2@sha256:abc"]},
                "index_image": "q.io/out:1",
                "index_image_resolved": "q.io/out@sha256:" + "1" * 64,
            },
        ),
        (rm_id, {"state": "failed", "state_reason": "It broke"}),
    ]
    for request_id, body in patches:
        core.patch_build(str(request_id), json.dumps(body).encode(), "application/json", worker)
    return ids


def _prepared_names(store: Store, request_id: int) -> set[str]:
    """What the session that has just read ``request_id``'s view has prepared."""
    with store.engine.connect() as conn:
        assert store.views([request_id], True, conn)
        return set(conn.execute(text("SELECT name FROM pg_prepared_statements")).scalars())


def test_prepared_views_equal_the_views_sqlalchemy_reads(core: RequestStoreCore) -> None:
    ids = _submit_every_type(core)
    plain = Store(core.store.engine, core.store.secrets, prepare=False)
    for verbose in (True, False):
        prepared_views = core.store.views(ids, verbose=verbose)
        assert len(prepared_views) == len(ids) == len(BODIES)
        assert prepared_views == plain.views(ids, verbose=verbose)
    # one request alone, and ids the database does not know among known ones
    assert core.store.views([ids[3], 10**6, ids[0]], True) == plain.views([ids[3], ids[0]], True)
    added = core.store.view(ids[sorted(BODIES).index("add")])
    assert added.arches == ["amd64", "s390x"]
    assert added.bundle_operators == {"q.io/ns/b1:1": "op-b", "q.io/ns/b2@sha256:abc": "op-b"}
    assert [state.name for state, _, _ in added.history] == [
        "COMPLETE",
        "IN_PROGRESS",
        "IN_PROGRESS",
    ]
    assert _prepared_names(core.store, ids[0]) == VIEW_STATEMENTS


def test_the_view_statements_are_planned_once_per_session(core: RequestStoreCore) -> None:
    """A generic plan, kept (plan_cache_mode): by default PostgreSQL re-plans ``= ANY($1)``
    on every execution, and planning cost more than executing."""
    request_id = _submit_every_type(core)[0]
    with core.store.engine.connect() as conn:
        for _ in range(8):
            assert core.store.views([request_id], True, conn)
        plans = conn.execute(
            text("SELECT name, generic_plans, custom_plans FROM pg_prepared_statements")
        ).all()
    assert {name for name, _, _ in plans} == VIEW_STATEMENTS
    assert all(generic >= 8 and custom == 0 for _, generic, custom in plans), plans


def test_prepared_statements_outlive_a_rollback_and_come_back_on_a_new_connection(
    core: RequestStoreCore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # every pooled connection is checked before use (not only those idle for a while), so the
    # sessions ended below are replaced rather than failing a call (test_pg_round_trips.py)
    monkeypatch.setattr(store_module, "PING_AFTER_IDLE", 0.0)
    store = core.store
    request_id = _submit_every_type(core)[0]
    expected = store.view(request_id)

    class Abort(Exception):
        pass

    # first read on a connection inside a transaction that rolls back: prepared anyway
    store.engine.dispose()
    with pytest.raises(Abort), store._write() as conn:
        assert store.views([request_id], True, conn) == [expected]
        raise Abort
    assert store.view(request_id) == expected
    # the server ends the pool's sessions: the pool opens new ones, which prepare again
    other = create_engine(store.engine.url, poolclass=NullPool)
    with other.connect() as conn:
        ended = conn.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar_one()
    other.dispose()
    assert ended >= 1
    assert store.view(request_id) == expected
    assert _prepared_names(store, request_id) == VIEW_STATEMENTS


def test_iib_database_prepare_off_prepares_nothing(
    new_database_url: Callable[[], str], tmp_path: Path
) -> None:
    core = store_core(new_database_url(), tmp_path, IIB_DATABASE_PREPARE=False)
    try:
        ids = _submit_every_type(core)
        assert len(core.store.views(ids, verbose=True)) == len(ids)
        assert _prepared_names(core.store, ids[0]) == set()
    finally:
        core.store.engine.dispose()
