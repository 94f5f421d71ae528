"""A new request's views are built from what the creating transaction inserted, not read back
(Store._create, ``_new_view``). The oracle is the read path itself: the views the store reads
from the database afterwards (the path every GET takes, checked against IIB's contract in
test_responses.py) must equal them field for field, for every request type and batch.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from sqlalchemy import event, insert, select, update

from services.request_store import models as m
from services.request_store.service import CallContext
from tests.gateway.conftest import SUBMITTER, Stack
from tests.gateway.test_responses import BODIES

pytestmark = pytest.mark.db
USER_READ = re.compile(r'FROM "?user"?(\s|$)')


def _without_build_tags(body: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(body)
    body.pop("build_tags", None)
    return body


CASES: list[tuple[str, Any]] = [
    *((endpoint, _without_build_tags(body)) for endpoint, body in sorted(BODIES.items())),
    ("add", BODIES["add"]),  # with build tags (sorted in Python by the read and the new view)
    (
        "add",
        {
            "bundles": ["q.io/ns/b1:1", "q.io/ns/b1:1"],
            "from_index": "q.io/i:1",
            "binary_image": "q.io/bin:1",
        },
    ),
    (
        "add-rm-batch",
        {
            "build_requests": [
                {"bundles": ["q.io/b:1"], "from_index": "q.io/i:1", "binary_image": "q.io/x:1"},
                {"operators": ["op"], "from_index": "q.io/i:1", "binary_image": "q.io/x:1"},
            ],
            "annotations": {"z": 1, "a": {"nested": [1, 2]}},
        },
    ),
    (
        "regenerate-bundle-batch",
        {
            "build_requests": [
                {"from_bundle_image": "q.io/b:1", "organization": "acme"},
                {"from_bundle_image": "q.io/b:2"},
            ],
            "annotations": {},
        },
    ),
    ("regenerate-bundle-batch", {"build_requests": [{"from_bundle_image": "q.io/b:3"}]}),
]


def _accept(api: Stack, endpoint: str, body: Any, user: str | None = SUBMITTER) -> list[Any]:
    call = CallContext(user=user, base_url=api.base_url)
    return api.core.accept(endpoint, copy.deepcopy(body), call, "")


@pytest.mark.parametrize(("endpoint", "body"), CASES, ids=[c[0] for c in CASES])
def test_a_new_requests_views_equal_what_the_store_reads_back(
    api: Stack, endpoint: str, body: Any
) -> None:
    views = _accept(api, endpoint, body)
    assert views
    assert views == api.core.store.views([v.id for v in views], verbose=True)


def test_a_known_bundles_operator_is_in_a_new_views_bundle_mapping(api: Stack) -> None:
    bundle = "q.io/ns/known-bundle:1"
    first = _accept(
        api, "add", {"bundles": [bundle], "from_index": "q.io/i:1", "binary_image": "b:1"}
    )[0]
    assert first.bundle_operators == {}
    with api.core.store.engine.begin() as conn:  # what a worker's bundle_mapping PATCH stores
        operator_id = conn.execute(
            insert(m.OPERATOR).values(name="known-operator").returning(m.OPERATOR.c.id)
        ).scalar_one()
        conn.execute(
            update(m.IMAGE)
            .where(m.IMAGE.c.pull_specification == bundle)
            .values(operator_id=operator_id)
        )
        assert (
            conn.execute(
                select(m.IMAGE.c.operator_id).where(m.IMAGE.c.pull_specification == bundle)
            ).scalar_one()
            == operator_id
        )
    body = {"bundles": [bundle, "q.io/ns/other:2"], "from_index": "q.io/i:1", "binary_image": "b:1"}
    views = _accept(api, "add", body)
    assert views[0].bundle_operators == {bundle: "known-operator"}
    assert views == api.core.store.views([views[0].id], verbose=True)


def test_a_known_submitters_row_is_read_once_per_store(
    api: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store remembers the ids of users committed before: a later POST by the same user
    reads no ``user`` row, and its views still name the user (read back from the database)."""
    body = {"bundles": ["q.io/ns/u:1"], "from_index": "q.io/i:1", "binary_image": "b:1"}
    user = "someone-new@DOMAIN.LOCAL"
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    # on PostgreSQL the get-or-create runs on psycopg2's cursor, past SQLAlchemy's events:
    # its statements are recorded on their way there (and still run)
    store = api.core.store
    run = store._cursor_run

    def run_recorded(conn: Any, sql: str, params: Any, **kwargs: Any) -> Any:
        statements.append(sql)
        return run(conn, sql, params, **kwargs)

    monkeypatch.setattr(store, "_cursor_run", run_recorded)
    engine = store.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        runs = []
        for _ in range(3):
            statements.clear()
            views = _accept(api, "add", body, user=user)
            runs.append(sum(bool(USER_READ.search(s)) for s in statements))
            assert views == api.core.store.views([views[0].id], verbose=True)
            assert views[0].user == user
    finally:
        event.remove(engine, "before_cursor_execute", record)
    # a new user: looked up, then get-or-create (looked up, inserted, read); then found in the
    # database and remembered; then remembered
    assert runs == [3, 1, 0]


def test_the_view_statements_fast_paths_return_what_sqlalchemy_returns(api: Stack) -> None:
    """``Store._view_rows`` runs the view statements on the driver's cursor (SQLite: the ids
    as one JSON array for ``json_each``; PostgreSQL: prepared statements) and applies the
    columns' result processors itself. The oracle is SQLAlchemy executing the plain statements
    (an expanding IN): the same rows, value for value and type for type (a datetime read back
    from SQLite's text, a float, a None), for every request type, with a history and images."""
    from services.request_store.store import _READ, _VIEW_STATEMENTS

    ids = [v.id for endpoint, body in CASES for v in _accept(api, endpoint, body)]
    for state in ("in_progress", "complete"):
        body = {"state": state, "state_reason": f"now {state}", "arches": ["s390x", "amd64"]}
        resp = api.patch(
            ids[0], {**body, "index_image": "q.io/out:1", "distribution_scope": "prod"}
        )
        assert resp.status_code == 200, resp.text
    store = api.core.store
    through_sqlalchemy: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        through_sqlalchemy.append(statement)

    for chosen in (ids, ids[:1], [ids[0], 10**9]):  # all, one, one and a missing id
        with store.engine.connect() as conn:
            for name in _VIEW_STATEMENTS:
                event.listen(store.engine, "before_cursor_execute", seen)
                try:
                    fast = [tuple(row) for row in store._view_rows(conn, name, list(chosen))]
                finally:
                    event.remove(store.engine, "before_cursor_execute", seen)
                if store.engine.dialect.name == "sqlite":  # on the cursor, not SQLAlchemy's
                    assert through_sqlalchemy == [], through_sqlalchemy
                plain = [tuple(row) for row in conn.execute(_READ.views[name], {"ids": chosen})]
                assert fast == plain, name
                assert [[type(v) for v in row] for row in fast] == [
                    [type(v) for v in row] for row in plain
                ], name
                assert fast or name != "requests"
