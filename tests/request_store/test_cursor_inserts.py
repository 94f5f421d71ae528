"""The store's INSERTs run on the DB-API cursor, psycopg2's or sqlite3's (``Store._insert_rows``,
``Store._insert_id``, ``_CursorInsert``), not through SQLAlchemy's execute.

The oracle is SQLAlchemy's own INSERT of the same rows on the same database, the path the
store took before (on SQLite until 2026-12-07): every column of the rows it writes must come out
equal, including the columns SQLAlchemy fills in (Python-side scalar defaults) and the values
its bind processors convert (a Boolean given as 1). Errors are SQLAlchemy's as before: a
unique violation is its IntegrityError (the idempotency race answers with a replay on it), a
session the server closed is its OperationalError, answered with "The database is
unavailable" (PostgreSQL's documentation: ``pg_terminate_backend`` closes a session as a
server restart would).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import IntegrityError

from services.common.errors import ExternalServiceError
from services.request_store import models as m
from services.request_store import store as store_module
from services.request_store.domain import ImageList, NewRequest, RequestType
from services.request_store.store import Store, make_engine
from tests.conftest import database_backend

pytestmark = pytest.mark.db
NOW = datetime(2026, 12, 6, 21, 30, 5, 123456)


def _new_id(result: Any) -> int:
    """The id of the row SQLAlchemy's INSERT created."""
    return int(result.inserted_primary_key[0])


def _rows(conn: Any, table: Any, ids: list[int]) -> list[dict[str, Any]]:
    """The rows ``ids`` of ``table``, every column but the id, in the order of ``ids``."""
    found = {
        row.id: {k: v for k, v in row._mapping.items() if k != "id"}
        for row in conn.execute(select(table).where(table.c.id.in_(ids)))
    }
    return [found[i] for i in ids]


def test_a_row_written_on_the_cursor_equals_the_row_sqlalchemy_writes(store: Store) -> None:
    with store._write() as conn:
        batches = [
            store._insert_id(conn, m.BATCH, {"annotations": '{"a": 1}'}),
            _new_id(conn.execute(insert(m.BATCH), {"annotations": '{"a": 1}'})),
        ]
        # "serial" given as 1 (SQLAlchemy's Boolean processor makes it True; PostgreSQL would
        # refuse an integer for a boolean column); "lease_token" not given (a Python default);
        # "updated" with microseconds, "created" without (SQLite stores the text SQLAlchemy's
        # processor writes: 6 digits always, where sqlite3's own adapter would drop them)
        request = {
            "type": int(RequestType.ADD),
            "batch_id": batches[0],
            "state": 1,
            "state_reason": "The request was initiated",
            "updated": NOW,
            "created": NOW.replace(microsecond=0),
            "serial": 1,
            "check_related_images": None,
            "worker_args": "{}",
        }
        requests = [
            store._insert_id(conn, m.REQUEST, request),
            _new_id(conn.execute(insert(m.REQUEST), request)),
        ]
        # "attempts" not given (a Python default); several rows in one statement
        outbox = [
            {
                "kind": "work",
                "subject": f"iib.work.{n}",
                "msg_id": f"work-{n}",
                "payload": bytes([0, n, 255]),
                "request_id": requests[0],
                "created": NOW,
            }
            for n in range(3)
        ]
        store._insert_rows(conn, m.OUTBOX, outbox)
        conn.execute(insert(m.OUTBOX), outbox)
        assert _rows(conn, m.BATCH, batches[:1]) == _rows(conn, m.BATCH, batches[1:])
        ours, theirs = _rows(conn, m.REQUEST, requests)
        assert ours == theirs
        assert ours["serial"] is True and ours["lease_token"] == 0
        # the stored text, not only what it parses back to: SQLAlchemy's documented storage
        # format for SQLite's DATETIME ("2021-03-15 12:05:57.105542", microseconds always)
        if database_backend() == "sqlite":
            stored = conn.execute(
                text("SELECT created FROM request WHERE id IN (:a, :b)"),
                {"a": requests[0], "b": requests[1]},
            ).scalars()
            assert list(stored) == ["2026-12-06 21:30:05.000000"] * 2
        outbox_ids = [r[0] for r in conn.execute(select(m.OUTBOX.c.id).order_by(m.OUTBOX.c.id))]
        written = _rows(conn, m.OUTBOX, outbox_ids)
        assert written[:3] == written[3:]
        assert [w["attempts"] for w in written] == [0] * 6
        assert written[1]["payload"] == bytes([0, 1, 255])


def test_conflicting_rows_are_left_out_only_where_asked(store: Store) -> None:
    with store._write() as conn:
        request_id = _one_request(store, conn)
        arches = [{"request_id": request_id, "name": a} for a in ("amd64", "s390x")]
        store._insert_rows(conn, m.REQUEST_ARCHITECTURE, arches, conflict=("request_id", "name"))
        store._insert_rows(
            conn, m.REQUEST_ARCHITECTURE, arches[1:], conflict=("request_id", "name")
        )
        names = conn.execute(
            select(m.REQUEST_ARCHITECTURE.c.name).order_by(m.REQUEST_ARCHITECTURE.c.name)
        ).scalars()
        assert list(names) == ["amd64", "s390x"]
        batch_id = conn.execute(select(m.REQUEST.c.batch_id)).scalar_one()
    key = {
        "scope": "someone",
        "key": "k-1",
        "endpoint": "add",
        "fingerprint": "f",
        "batch_id": batch_id,
        "created": NOW,
    }
    with store._write() as conn:
        store._insert_rows(conn, m.IDEMPOTENCY_KEY, [key])
    with pytest.raises(IntegrityError), store._write() as conn:
        store._insert_rows(conn, m.IDEMPOTENCY_KEY, [key])


def _one_request(store: Store, conn: Any) -> int:
    new = NewRequest(RequestType.ADD)
    new.images = {"from_index": "q.io/ns/index:v4.14", "binary_image": "q.io/ns/opm:v4.14"}
    new.image_lists = {ImageList.BUNDLES: ["q.io/ns/bundle:1", "q.io/ns/bundle:2"]}
    return store._create(conn, [new], None, [None], None, None).request_ids[0]


@pytest.mark.skipif(database_backend() != "postgresql", reason="PostgreSQL's sessions")
def test_a_write_on_a_session_the_server_closed_fails_readably_and_the_next_one_reconnects(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "PING_AFTER_IDLE", 3600.0)  # the call meets the loss
    store.engine.dispose()
    url = store.engine.url.render_as_string(hide_password=False)
    engine = make_engine(url, pool_size=1)
    s = Store(engine, store.secrets)
    s.outbox_builder = lambda conn, change, views: []
    new = NewRequest(RequestType.ADD)
    new.images = {"from_index": "q.io/ns/index:v4.14"}
    new.image_lists = {ImageList.BUNDLES: ["q.io/ns/bundle:1"]}
    try:
        with engine.connect() as conn:
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
            conn.rollback()
        other = make_engine(url, pool_size=1)
        with other.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
        other.dispose()
        # no user: the creating transaction's first statement is the batch's INSERT on the
        # cursor
        with pytest.raises(ExternalServiceError, match="The database is unavailable"):
            s.create([new], user=None, queues=[None])
        (request_id,) = s.create([new], user=None, queues=[None]).request_ids
        assert s.view(request_id).image_lists[ImageList.BUNDLES] == ["q.io/ns/bundle:1"]
    finally:
        engine.dispose()
