"""An update's statements: on PostgreSQL they run on psycopg2's cursor (``Store._run``,
``_CursorStatement``), not through SQLAlchemy's execute; on SQLite through SQLAlchemy.

The oracle for the cursor's path is SQLAlchemy's own execute of the same statement on the same
database, the path the store took before and still takes on SQLite: the rows read, the rows
changed and the values its processors convert (a Boolean given as 1; a bytea read back as
bytes, where psycopg2 alone gives a memoryview) must come out equal. The lease test's expected
outcomes come from the fencing rule as docs/dispatch.md ("Build leases and fencing") states
it, checked by hand: an update carrying a fencing token that is no longer current is refused
and changes nothing. It runs on both databases.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import bindparam, literal_column, select, update

from services.common.errors import LeaseLostError
from services.request_store import models as m
from services.request_store.domain import ImageList, NewRequest, RequestState, RequestType
from services.request_store.patch import PatchPlan
from services.request_store.store import _READ, UMB_KINDS, Store, _cursor_statement, utcnow
from tests.conftest import database_backend

pytestmark = [pytest.mark.db]
postgresql_only = pytest.mark.skipif(database_backend() != "postgresql", reason="psycopg2")
NOW = datetime(2026, 12, 6, 23, 30, 1, 654321)


def _requests(store: Store, count: int) -> list[int]:
    new = NewRequest(RequestType.ADD)
    new.images = {"from_index": "q.io/ns/index:v4.15", "binary_image": "q.io/ns/opm:v4.15"}
    new.image_lists = {ImageList.BUNDLES: ["q.io/ns/bundle:1"]}
    created = store.create([new] * count, user=None, queues=[None] * count)
    return list(created.request_ids)


def _row(conn: Any, request_id: int) -> dict[str, Any]:
    r = m.REQUEST
    found = conn.execute(select(r).where(r.c.id == request_id)).first()
    return {k: v for k, v in found._mapping.items() if k != "id"}


@postgresql_only
def test_the_cursor_reads_and_writes_what_sqlalchemy_reads_and_writes(store: Store) -> None:
    ours, theirs = _requests(store, 2)
    r, o = m.REQUEST, m.OUTBOX
    # a SET of a Boolean given as 1 (SQLAlchemy's processor makes it True; PostgreSQL refuses
    # an integer for a boolean column), a datetime and a string; parameters named as the store
    # names them
    change = (
        update(r)
        .where(r.c.id == bindparam("updated_id"))
        .values(
            serial=bindparam("set_serial", type_=r.c.serial.type),
            updated=bindparam("set_updated", type_=r.c.updated.type),
            state_reason=bindparam("set_state_reason", type_=r.c.state_reason.type),
        )
    )
    values = {"set_serial": 1, "set_updated": NOW, "set_state_reason": "50% done"}
    with store._write() as conn:
        store._run(conn, change, {"updated_id": ours, **values})
        conn.execute(change, {"updated_id": theirs, **values})
        assert _row(conn, ours) == _row(conn, theirs)
        assert _row(conn, ours)["serial"] is True
        assert _row(conn, ours)["state_reason"] == "50% done"  # a % in a value, not the text
        # the row lock the update takes, with the lease token
        read = store._run(conn, store._lock, {"locked_id": ours}, fetch=True)
        assert read == [tuple(conn.execute(store._lock, {"locked_id": ours}).one())]
        # a literal parameter ("work") is filled in as SQLAlchemy fills it
        store._run(conn, store._final_work, {"final_id": ours, "final_at": NOW})
        conn.execute(store._final_work, {"final_id": theirs, "final_at": NOW})
        sent = select(o.c.request_id, o.c.sent_at).where(o.c.kind == "work").order_by(o.c.id)
        assert [tuple(row) for row in conn.execute(sent)] == [(ours, NOW), (theirs, NOW)]
        # a bytea column comes back as bytes, as SQLAlchemy's result processor gives it
        payloads = select(o.c.payload).where(o.c.request_id == bindparam("of"))
        read = store._run(conn, payloads, {"of": ours}, fetch=True)
        assert read == [tuple(row) for row in conn.execute(payloads, {"of": ours})]
        assert read and all(type(row[0]) is bytes for row in read)


@postgresql_only
def test_a_statement_the_cursor_cannot_run_as_text_is_refused_when_built(store: Store) -> None:
    r = m.REQUEST
    dialect = store.engine.dialect
    expanding = select(r.c.id).where(r.c.id.in_(bindparam("ids", expanding=True)))
    with pytest.raises(AssertionError, match="unexpected statement text"):
        _cursor_statement(expanding, dialect)
    percent = select(r.c.id).where(r.c.state_reason.like(literal_column("'50%'")))
    with pytest.raises(AssertionError, match="unexpected statement text"):
        _cursor_statement(percent, dialect)


def _state(state: RequestState, reason: str) -> Callable[..., PatchPlan]:
    return lambda _type, _state, _reason: PatchPlan(state=state, state_reason=reason)


def test_an_update_with_a_lease_no_longer_current_is_refused_and_changes_nothing(
    store: Store,
) -> None:
    (request_id,) = _requests(store, 1)
    first, _ = store.claim_lease(request_id, "worker-a", 0.0)  # expires at once
    store.update(request_id, _state(RequestState.IN_PROGRESS, "step 1"), lease_token=first)
    second, _ = store.claim_lease(request_id, "worker-b", 60.0)
    assert second == first + 1
    with pytest.raises(LeaseLostError, match=f"lease {first} of request {request_id}"):
        store.update(request_id, _state(RequestState.FAILED, "stale"), lease_token=first)
    view = store.view(request_id)
    assert (view.state, view.state_reason) == (RequestState.IN_PROGRESS, "step 1")
    view, changed = store.update(
        request_id, _state(RequestState.COMPLETE, "done"), lease_token=second
    )
    assert changed and (view.state, view.state_reason) == (RequestState.COMPLETE, "done")
    assert [h[1] for h in view.history][:2] == ["done", "step 1"]


def test_the_relay_reads_its_rows_and_marks_them_sent(store: Store) -> None:
    """The relay's poll and mark on the cursor (PostgreSQL) give what SQLAlchemy's execute of
    the same poll gives; a UMB row is never among them (it goes to the AMQP publisher)."""
    _requests(store, 2)
    o = m.OUTBOX
    with store._write() as conn:
        store._insert_rows(
            conn,
            o,
            [
                {
                    "kind": UMB_KINDS[0],
                    "subject": "topic://VirtualTopic.eng.iib.build.state",
                    "msg_id": "umb-1",
                    "payload": b"{}",
                    "created": NOW,
                }
            ],
        )
    rows = store.publishable_outbox()
    with store.engine.connect() as conn:
        expected = conn.execute(_READ.publishable, {"now": utcnow(), "limit": 500}).all()
        unsent = conn.execute(
            select(o.c.id).where(o.c.sent_at.is_(None), o.c.kind.not_in(UMB_KINDS))
        ).scalars()
        assert [r.id for r in rows] == sorted(unsent)
    assert [tuple(r) for r in rows] == [tuple(r) for r in expected]
    assert rows and all(type(r.payload) is bytes for r in rows)
    store.mark_sent([rows[0].id, rows[-1].id])
    assert [r.id for r in store.publishable_outbox()] == [r.id for r in rows[1:-1]]
    with store.engine.connect() as conn:
        sent = conn.execute(select(o.c.id).where(o.c.sent_at.is_not(None))).scalars()
        assert sorted(sent) == [rows[0].id, rows[-1].id]
