"""The unfiltered list's total comes from ``request_count``, kept by triggers (migration 0003).

The oracle is the definition of IIB's ``meta.total``: Flask-SQLAlchemy's ``paginate`` counts
the rows of the query, so for the unfiltered list ``SELECT count(*) FROM request``, run here
on a connection of its own. The table must agree with it whoever writes the requests: the
store, another program's SQL, a migration run over requests stored before it existed.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, delete, insert, select, text

from services.common.secrets import SecretBox, generate_key
from services.request_store import models as m
from services.request_store.db import alembic_config, upgrade
from services.request_store.domain import RequestState, RequestType
from services.request_store.service import CallContext, RequestStoreCore
from services.request_store.store import ListFilters, Store, make_engine
from tests.gateway.test_responses import BODIES
from tests.request_store.cores import store_core

pytestmark = pytest.mark.db
SUBMITTER = "tbrady@DOMAIN.LOCAL"
CALL = CallContext(user=SUBMITTER, base_url="http://iib.example.com")


@pytest.fixture
def core(new_database_url: Callable[[], str], tmp_path: Path) -> Iterator[RequestStoreCore]:
    core = store_core(new_database_url(), tmp_path)
    yield core
    core.store.engine.dispose()


def _totals(store: Store) -> tuple[int, int]:
    """(the list's total, count(*) over request on a separate connection)."""
    _, total = store.list_page(ListFilters(), 1, 20, False)
    with store.engine.connect() as conn:
        counted = conn.execute(text("SELECT count(*) FROM request")).scalar_one()
    return total, counted


def _copy_requests(engine: Engine, source_id: int, copies: int) -> list[int]:
    """Insert ``copies`` rows like request ``source_id`` with plain SQL, not the store's code:
    one statement for all of them (PostgreSQL's statement-level trigger counts them at once)."""
    r = m.REQUEST
    with engine.begin() as conn:
        row = dict(conn.execute(select(r).where(r.c.id == source_id)).mappings().one())
        del row["id"]
        return list(conn.execute(insert(r).returning(r.c.id), [row] * copies).scalars())


def test_the_total_follows_every_writer(core: RequestStoreCore) -> None:
    store = core.store
    assert _totals(store) == (0, 0)
    ids = [
        view.id
        for endpoint, body in sorted(BODIES.items())
        for view in core.accept(endpoint, copy.deepcopy(body), CALL, "")
    ]
    assert _totals(store) == (len(ids), len(ids))

    added = _copy_requests(store.engine, ids[0], 3)
    assert _totals(store) == (len(ids) + 3, len(ids) + 3)
    with store.engine.begin() as conn:
        conn.execute(delete(m.REQUEST).where(m.REQUEST.c.id.in_(added[:2])))
    assert _totals(store) == (len(ids) + 1, len(ids) + 1)

    # a transaction rolled back leaves the total as it was
    with pytest.raises(RuntimeError), store.engine.begin() as conn:
        conn.execute(delete(m.REQUEST).where(m.REQUEST.c.id == added[2]))
        raise RuntimeError("abandon")
    assert _totals(store) == (len(ids) + 1, len(ids) + 1)

    # a filter still counts the matching rows
    _, in_progress = store.list_page(ListFilters(state=RequestState.IN_PROGRESS), 1, 20, False)
    with store.engine.connect() as conn:
        assert (
            in_progress
            == conn.execute(
                text("SELECT count(*) FROM request WHERE state = :s"),
                {"s": int(RequestState.IN_PROGRESS)},
            ).scalar_one()
        )


def test_concurrent_submissions_are_all_counted(core: RequestStoreCore) -> None:
    # 8 threads, each with its own pooled session (PostgreSQL: mostly different counter rows)
    def submit(_: int) -> int:
        return len(core.accept("add", copy.deepcopy(BODIES["add"]), CALL, ""))

    with ThreadPoolExecutor(8) as pool:
        submitted = sum(pool.map(submit, range(40)))
    assert _totals(core.store) == (submitted, submitted)


def test_truncate_empties_the_total(core: RequestStoreCore) -> None:
    store = core.store
    if store.engine.dialect.name != "postgresql":
        pytest.skip("TRUNCATE: PostgreSQL (SQLite's DELETE without WHERE fires the row triggers)")
    core.accept("add", copy.deepcopy(BODIES["add"]), CALL, "")
    with store.engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE request CASCADE")
    assert _totals(store) == (0, 0)


def test_upgrading_counts_the_requests_stored_before(new_database_url: Callable[[], str]) -> None:
    engine = make_engine(new_database_url())
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))

    def migrate(step: Callable[..., None], revision: str) -> None:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            step(cfg, revision)

    def add_requests(count: int) -> None:
        now = datetime(2026, 12, 6, 12, 0, 0)
        with engine.begin() as conn:
            batch = conn.execute(insert(m.BATCH).values().returning(m.BATCH.c.id)).scalar_one()
            for _ in range(count):
                conn.execute(
                    insert(m.REQUEST).values(
                        type=int(RequestType.ADD),
                        batch_id=batch,
                        state=int(RequestState.IN_PROGRESS),
                        state_reason="The request was initiated",
                        updated=now,
                        created=now,
                    )
                )

    try:
        migrate(command.upgrade, "0002")
        add_requests(5)
        upgrade(engine)
        store = Store(engine, SecretBox([generate_key()]))
        assert _totals(store) == (5, 5)
        add_requests(2)
        assert _totals(store) == (7, 7)

        # downgraded, requests are written without the table; upgrading again counts them
        migrate(command.downgrade, "0002")
        with engine.connect() as conn:
            tables = engine.dialect.get_table_names(conn)
        assert "request_count" not in tables
        add_requests(4)
        upgrade(engine)
        assert _totals(store) == (11, 11)
    finally:
        engine.dispose()


def test_the_unfiltered_total_is_read_from_request_count(core: RequestStoreCore) -> None:
    # the mechanism itself: the unfiltered list does not count the rows, filtered lists do
    store = core.store
    core.accept("add", copy.deepcopy(BODIES["add"]), CALL, "")
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE request_count SET n = n + 1000 WHERE shard = 0"))
    assert _totals(store) == (1001, 1)
    _, filtered = store.list_page(ListFilters(request_type=RequestType.ADD), 1, 20, False)
    assert filtered == 1


@pytest.mark.parametrize("per_page", [1, 7, 20])
def test_every_unfiltered_page_is_the_offset_page(core: RequestStoreCore, per_page: int) -> None:
    # the older half is read from the oldest end (Store.list_page); the oracle is IIB's
    # paginate: ORDER BY id DESC LIMIT per_page OFFSET (page - 1) * per_page, here in plain SQL
    store = core.store
    ids = [
        view.id
        for endpoint, body in sorted(BODIES.items())
        for view in core.accept(endpoint, copy.deepcopy(body), CALL, "")
    ]
    ids += _copy_requests(store.engine, ids[0], 30)
    with store.engine.begin() as conn:  # gaps: the ids are not dense
        conn.execute(delete(m.REQUEST).where(m.REQUEST.c.id.in_(ids[-30:-20:3])))
    with store.engine.connect() as conn:
        total = conn.execute(text("SELECT count(*) FROM request")).scalar_one()
    for page in range(1, total // per_page + 3):
        with store.engine.connect() as conn:
            expected = list(
                conn.execute(
                    text("SELECT id FROM request ORDER BY id DESC LIMIT :n OFFSET :skip"),
                    {"n": per_page, "skip": (page - 1) * per_page},
                ).scalars()
            )
        views, listed_total = store.list_page(ListFilters(), page, per_page, False)
        assert ([v.id for v in views], listed_total) == (expected, total), page
