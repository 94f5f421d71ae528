"""The request store's database access: create, read, list and update requests.

All writes of one operation happen in one transaction, including the outbox rows that announce
them (the relay publishes those later), so an accepted request can never be lost between the
database and the message bus. SQLite runs in WAL mode with writes serialised by a process-wide
lock; PostgreSQL relies on row locks and ``INSERT ... ON CONFLICT`` for the global tables.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import psycopg2
import psycopg2.extras
from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    any_,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    literal_column,
    null,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, DisconnectionError, IntegrityError, OperationalError

from services.common.errors import (
    ExternalServiceError,
    FinalStateError,
    IIBError,
    LeaseHeldError,
    LeaseLostError,
    NotFoundError,
)
from services.common.secrets import SecretBox
from services.request_store import models as m
from services.request_store.domain import (
    FINAL_STATES,
    IMAGE_COLUMNS,
    SCALAR_COLUMNS,
    ImageList,
    NewRequest,
    RequestState,
    RequestType,
)
from services.request_store.serialize import RequestView, Route

__all__ = [
    "UMB_KINDS",
    "Created",
    "ListFilters",
    "OutboxMessage",
    "OutboxRow",
    "Store",
    "StoredRequest",
    "make_engine",
]

INITIAL_REASON = "The request was initiated"
#: seconds a pooled PostgreSQL connection may sit idle before it is checked (_ping_when_idle)
PING_AFTER_IDLE = 2.0
_IDLE_SINCE = "iib_idle_since"
#: Outbox kinds published to IIB's AMQP broker (UMB) by the UMB publisher, not to NATS.
UMB_KINDS = ("umb_build_state", "umb_batch_state")


def utcnow() -> datetime:
    """Naive UTC now, as IIB stores timestamps."""
    return datetime.now(UTC).replace(tzinfo=None)


def make_engine(url: str, pool_size: int = 16, statement_timeout: float = 30.0) -> Engine:
    """An engine for SQLite (WAL, foreign keys, a busy timeout) or PostgreSQL (psycopg2, a
    connect timeout and ``statement_timeout``: a stuck statement fails instead of holding a
    connection and a caller forever).

    PostgreSQL sessions run without parallel query (``max_parallel_workers_per_gather=0``):
    the store's statements are short and many run at once, and a parallel plan starts worker
    processes for each statement. The unfiltered list's ``count(*)`` over 200,000 requests took
    14.9 ms with two workers and 6.5 ms without (median of 20, docs/benchmarks.md)."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=pool_size,
            max_overflow=8,
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=8,
        pool_timeout=statement_timeout,
        connect_args={
            "connect_timeout": 10,
            # plan_cache_mode: the prepared view statements (Store._view_rows) keep one generic
            # plan; by default PostgreSQL plans "id = ANY($1)" anew on every execution, since
            # the generic plan's estimate (for ten ids) costs more than a custom plan for one
            "options": (
                f"-c statement_timeout={int(statement_timeout * 1000)} "
                "-c max_parallel_workers_per_gather=0 -c plan_cache_mode=force_generic_plan"
            ),
        },
    )
    _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled PostgreSQL connection with ``SELECT 1`` before use, but only when it sat
    idle for ``PING_AFTER_IDLE`` seconds: a connection busy a moment ago is alive, and
    SQLAlchemy's ``pool_pre_ping`` cost one round trip per checkout, one of the six a GET
    made (docs/benchmarks.md). A dead connection found here is replaced (the pool retries the
    checkout); one that dies within the window fails its statement, which invalidates the pool,
    so no more than one call per process sees a restarted server."""

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is None or time.monotonic() - since < PING_AFTER_IDLE:
            return  # new, or idle only a moment
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError(str(exc)) from None


@dataclass
class ListFilters:
    """Validated filters of GET /builds (images already resolved to ids)."""

    state: RequestState | None = None
    batch: int | None = None
    request_type: RequestType | None = None
    user: str | None = None
    from_index_ids: list[int] | None = None
    index_image_id: int | None = None


@dataclass
class StoredRequest:
    """A request row with everything a worker needs (secrets decrypted)."""

    id: int
    type: RequestType
    state: RequestState
    state_reason: str
    user: str | None
    batch_id: int
    queue: str | None
    serial: bool
    serial_key: str | None
    worker_args: dict[str, Any]
    view: RequestView
    deprecation_schema: str | None
    secrets: dict[str, str]


@dataclass
class Created:
    """The outcome of a submission."""

    request_ids: list[int]
    replayed: bool
    #: verbose views, built from what the creating transaction wrote (empty for a replay)
    views: list[RequestView] = field(default_factory=list)


class OutboxRow(NamedTuple):
    """An unsent outbox row as the relay publishes it (``Store.publishable_outbox``)."""

    id: int
    kind: str
    subject: str
    msg_id: str
    headers: str | None
    payload: bytes
    request_id: int | None


@dataclass
class OutboxMessage:
    """An outbox row to be written with the change it announces."""

    kind: str
    subject: str
    msg_id: str
    payload: bytes
    # NATS headers (strings); for the UMB kinds, AMQP application properties (typed)
    headers: dict[str, Any] | None = None
    request_id: int | None = None


#: The statements reading a view, in the order _view_statements returns them.
_VIEW_STATEMENTS = ("requests", "items", "history")


def _view_statements(match: Callable[[Any], Any]) -> tuple[Any, Any, Any]:
    """The statements reading views (request rows, their items, their state history), each
    selecting the requests whose id column ``match`` accepts."""
    r, u, b, i, o = m.REQUEST, m.USER, m.BATCH, m.IMAGE, m.OPERATOR
    ri, ro, ra, rt, rs = (
        m.REQUEST_IMAGE,
        m.REQUEST_OPERATOR,
        m.REQUEST_ARCHITECTURE,
        m.REQUEST_BUILD_TAG,
        m.REQUEST_STATE,
    )
    package = o.alias("package")
    # A view is read with three statements (two without the history): every statement
    # costs more in Python than in the database, so the request row brings its images
    # (one scalar subquery per image column) and one UNION brings its lists and names.
    image_specs = [
        select(i.c.pull_specification)
        .where(i.c.id == getattr(r.c, f"{col}_id"))
        .scalar_subquery()
        .label(f"{col}_spec")
        for col in IMAGE_COLUMNS
    ]
    requests = (
        select(
            r,
            u.c.username,
            b.c.annotations,
            package.c.name.label("operator_package"),
            *image_specs,
        )
        .outerjoin(u, r.c.user_id == u.c.id)
        .join(b, r.c.batch_id == b.c.id)
        .outerjoin(package, r.c.operator_package_id == package.c.id)
        .where(match(r.c.id))
    )
    # (request_id, tag, number, position, text, operator): "l" image list items (number =
    # the list's kind), "r" removed operators, "a" arches, "t" build tags
    items = union_all(
        select(
            ri.c.request_id.label("item_request"),
            literal_column("'l'").label("item_tag"),
            ri.c.kind.label("item_number"),
            ri.c.position.label("item_position"),
            i.c.pull_specification.label("item_value"),
            o.c.name.label("item_operator"),
        )
        .join(i, ri.c.image_id == i.c.id)
        .outerjoin(o, i.c.operator_id == o.c.id)
        .where(match(ri.c.request_id)),
        select(
            ro.c.request_id,
            literal_column("'r'"),
            literal_column("0"),
            ro.c.position,
            o.c.name,
            null(),
        )
        .join(o, ro.c.operator_id == o.c.id)
        .where(match(ro.c.request_id)),
        select(
            ra.c.request_id,
            literal_column("'a'"),
            literal_column("0"),
            literal_column("0"),
            ra.c.name,
            null(),
        ).where(match(ra.c.request_id)),
        select(
            rt.c.request_id,
            literal_column("'t'"),
            literal_column("0"),
            literal_column("0"),
            rt.c.name,
            null(),
        ).where(match(rt.c.request_id)),
    ).order_by("item_request", "item_tag", "item_number", "item_position", "item_value")
    history = (
        select(rs.c.id, rs.c.request_id, rs.c.state, rs.c.state_reason, rs.c.updated)
        .where(match(rs.c.request_id))
        .order_by(rs.c.id.desc())
    )
    return requests, items, history


def _prepare_text(statement: Any) -> str:
    """``statement`` as PostgreSQL text for PREPARE: its one parameter ``ids`` becomes $1
    (checked by ``_cursor_statement``: every ``%`` left is a parameter's)."""
    psycopg2_dialect: Any = postgresql.psycopg2.dialect  # untyped in SQLAlchemy's stubs
    built = _cursor_statement(statement, psycopg2_dialect())
    sql = built.sql.replace("%(ids)s", "$1")
    if built.fixed or "%" in sql or "$1" not in sql:
        raise AssertionError(f"unexpected parameters in {built.sql!r}")
    return sql


@dataclass(frozen=True)
class _Bound:
    """What SQLAlchemy's execute adds to a statement's parameters, kept for the cursor: the
    values of the parameters not given (``fixed``: literal parameters, scalar column defaults)
    and the bind processors of their types (a Boolean's checks and converts its value)."""

    fixed: dict[str, Any]
    processors: dict[str, Callable[[Any], Any]]

    def params(self, values: Mapping[str, Any]) -> dict[str, Any]:
        params = {**self.fixed, **values}
        for name, process in self.processors.items():
            params[name] = process(params[name])
        return params


@dataclass(frozen=True)
class _CursorInsert(_Bound):
    """An INSERT as psycopg2 (or sqlite3) text, run on the DB-API cursor
    (``Store._insert_rows``).
    Under POSTs, SQLAlchemy's execute held 38 % of the request store's GIL samples, two thirds
    of it around psycopg2's; on the cursor a submission's ``Store.create`` took 0.66-0.80 ms of
    CPU against 0.96-1.19 ms (docs/benchmarks.md). What SQLAlchemy would add is kept
    (``_Bound``): the scalar Python-side defaults of the columns not given and the bind
    processors of the columns that have one on psycopg2."""

    #: the INSERT of one row, ``... VALUES (%(a)s, %(b)s) ...``, for the cursor's execute
    one: str
    #: ``INSERT ... VALUES %s ...`` for psycopg2.extras.execute_values, which parses its SQL
    #: in Python on every call (8.5 % of the store's samples under the POST + PATCH cycle
    #: when it also ran the one-row INSERTs); on SQLite ``one``, for executemany
    many: str
    #: one row's ``(%(a)s, %(b)s)`` (PostgreSQL)
    template: str


_VALUES = re.compile(r" VALUES (\((?:%\(\w+\)s, )*%\(\w+\)s\))")


def _cursor_insert(
    table: Any, keys: tuple[str, ...], dialect: Any, *, returning: bool, conflict: tuple[str, ...]
) -> _CursorInsert:
    """``INSERT INTO table`` of the columns ``keys`` (ignoring rows that conflict on
    ``conflict``; returning the new rows' ids if ``returning``), compiled by SQLAlchemy."""
    fixed: dict[str, Any] = {}
    for column in table.columns:
        if column.key in keys or column.default is None:
            continue
        if not column.default.is_scalar:  # a callable default would need SQLAlchemy's context
            raise AssertionError(f"{table.name}.{column.key} has a Python-side default")
        fixed[column.key] = column.default.arg
    names = (*keys, *fixed)
    named = dialect.paramstyle == "named"  # sqlite3's cursor
    with_conflict = sqlite.insert if named else postgresql.insert
    statement: Any = with_conflict(table) if conflict else insert(table)
    if conflict:
        statement = statement.on_conflict_do_nothing(index_elements=list(conflict))
    compiled = statement.compile(
        dialect=dialect, column_keys=list(names), for_executemany=not returning
    )
    sql = str(compiled)
    processors = {
        name: process
        for name in names
        if (process := table.c[name].type.dialect_impl(dialect).bind_processor(dialect))
    }
    if named:
        # one text for one row and for executemany; the new id is the cursor's lastrowid
        if set(compiled.params) != set(names) or set(re.findall(r":(\w+)", sql)) != set(names):
            raise AssertionError(f"unexpected INSERT text {sql!r}")
        return _CursorInsert(fixed=fixed, processors=processors, one=sql, many=sql, template="")
    values = _VALUES.findall(sql)
    returns = f" RETURNING {dialect.identifier_preparer.format_table(table)}.id"
    if (
        set(compiled.params) != set(names)
        or len(values) != 1
        or set(re.findall(r"%\((\w+)\)s", values[0])) != set(names)
        or sql.count("%") != len(names)  # only the parameters: no literal % to escape
        or (sql.endswith(returns) != returning)
    ):
        raise AssertionError(f"unexpected INSERT text {sql!r}")
    return _CursorInsert(
        fixed=fixed,
        processors=processors,
        one=sql,
        many=sql.replace(f" VALUES {values[0]}", " VALUES %s"),
        template=values[0],
    )


@dataclass(frozen=True)
class _CursorStatement(_Bound):
    """A statement the store builds once, as psycopg2 text for the connection's cursor
    (``Store._run``), with what SQLAlchemy's execute would add around it: its literal
    parameters' values and its parameters' bind processors (``_Bound``), and the result
    processors of its columns (``None`` where a type has none)."""

    sql: str
    results: tuple[Callable[[Any], Any] | None, ...]

    def rows(self, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        if not any(self.results):
            return rows
        return [
            tuple(
                v if p is None or v is None else p(v)
                for p, v in zip(self.results, row, strict=True)
            )
            for row in rows
        ]


def _cursor_statement(statement: Any, dialect: Any) -> _CursorStatement:
    """``statement`` compiled by SQLAlchemy for the DB-API cursor of ``dialect``: psycopg2
    (``%(name)s`` parameters) or sqlite3 with named parameters (``:name``). Refused
    (AssertionError) where the text would need SQLAlchemy at run time: an expanding or
    post-compile parameter, a literal ``%`` that psycopg2 would read as a placeholder."""
    compiled = statement.compile(dialect=dialect)
    sql = str(compiled)
    # parameter name -> its BindParameter (compiled.binds also holds anonymous ones' raw keys)
    binds = {name: bind for bind, name in compiled.bind_names.items()}
    if dialect.paramstyle == "named":
        placeholders_only = set(re.findall(r":(\w+)", sql)) == set(binds)
    else:
        placeholders = sum(sql.count(f"%({name})s") for name in binds)
        placeholders_only = sql.count("%") == placeholders and all(
            f"%({name})s" in sql for name in binds
        )
    if (
        any(b.expanding or b.literal_execute for b in binds.values())
        or "POSTCOMPILE" in sql
        or set(compiled.params) != set(binds)
        or not placeholders_only
    ):
        raise AssertionError(f"unexpected statement text {sql!r}")
    fixed = {name: compiled.params[name] for name, b in binds.items() if not b.required}
    processors = {
        name: process
        for name, b in binds.items()
        if (process := b.type.dialect_impl(dialect).bind_processor(dialect))
    }
    results = tuple(
        column.type.dialect_impl(dialect).result_processor(dialect, None)
        for column in getattr(statement, "selected_columns", ())
    )
    return _CursorStatement(fixed=fixed, processors=processors, sql=sql, results=results)


#: the values of the parameter ``ids`` given as a JSON array (``Store._array``), read by json_each
_JSON_IDS: Any = func.json_each(bindparam("ids")).table_valued("value")


def _in_json_ids(column: Any) -> Any:
    """``column IN`` the JSON array parameter ``ids``: on SQLite, the values of an IN as one
    parameter, which the cursor's text can hold (an expanding IN cannot, ``_cursor_statement``)."""
    return column.in_(select(_JSON_IDS.c.value))


#: pysqlite as the engine has it, with named parameters (one value however often it is used)
_SQLITE = sqlite.dialect(paramstyle="named")


class _ReadStatements:
    """The read path's statements, built once (expanding IN parameters keep them cacheable)."""

    def __init__(self) -> None:
        ids: Any = bindparam("ids", expanding=True)
        array: Any = bindparam("ids", type_=postgresql.ARRAY(Integer))
        #: name -> the view statement with an expanding IN (PostgreSQL with preparing off)
        self.views: dict[str, Any] = {}
        #: prepared name -> its PREPARE text: one int[] parameter, "id = ANY($1)"
        self.prepared: dict[str, str] = {}
        #: name -> its EXECUTE as psycopg2 text, run on the DB-API cursor (Store._view_rows)
        self.execute: dict[str, str] = {}
        #: name -> its SQLite text for sqlite3's cursor, "id IN (SELECT value FROM
        #: json_each(:ids))" (Store._view_rows)
        self.sqlite: dict[str, _CursorStatement] = {}
        #: name -> the keys of the columns it returns, in order
        self.keys: dict[str, tuple[str, ...]] = {}
        for name, plain, for_array, for_json in zip(
            _VIEW_STATEMENTS,
            _view_statements(lambda column: column.in_(ids)),
            _view_statements(lambda column: column == any_(array)),
            _view_statements(_in_json_ids),
            strict=True,
        ):
            self.views[name] = plain
            self.prepared[f"iib_view_{name}"] = _prepare_text(for_array)
            self.execute[name] = f"EXECUTE iib_view_{name}(%s)"
            self.sqlite[name] = _cursor_statement(for_json, _SQLITE)
            self.keys[name] = tuple(c.key for c in plain.selected_columns)
        r = m.REQUEST
        # the relay's poll (Store.publishable_outbox), built once: building it per call (an
        # alias of the request table) cost more than running it
        o = m.OUTBOX
        earlier = r.alias("earlier")
        blocked = (
            select(earlier.c.id)
            .where(
                earlier.c.serial_key == r.c.serial_key,
                earlier.c.id < r.c.id,
                earlier.c.state == int(RequestState.IN_PROGRESS),
            )
            .exists()
        )
        self.publishable = (
            select(
                o.c.id, o.c.kind, o.c.subject, o.c.msg_id, o.c.headers, o.c.payload, o.c.request_id
            )
            .outerjoin(r, (o.c.request_id == r.c.id) & (o.c.kind == "work"))
            .where(o.c.sent_at.is_(None), o.c.dead_at.is_(None))
            # NOT IN written as one != per kind: an IN list is an expanding parameter, which
            # the statement's text for the cursor (Store._run) cannot hold
            .where(*(o.c.kind != kind for kind in UMB_KINDS))
            .where((o.c.kind != "work") | r.c.serial_key.is_(None) | ~blocked)
            # a request a worker has claimed with its group's head is being built already
            .where(
                (o.c.kind != "work")
                | r.c.lease_expires.is_(None)
                | (r.c.lease_expires < bindparam("now"))
            )
            .order_by(o.c.id)
            .limit(bindparam("limit"))
        )
        # the unfiltered list's total (the count the triggers keep, models.RequestCount) and
        # its page of ids from either end, built once like the view statements
        self.total = select(func.coalesce(func.sum(m.REQUEST_COUNT.c.n), 0))
        page = select(r.c.id).limit(bindparam("limit")).offset(bindparam("offset"))
        self.newest_first = page.order_by(r.c.id.desc())
        self.oldest_first = page.order_by(r.c.id.asc())


log = logging.getLogger(__name__)
#: What clients see when the database fails; the driver's text (hosts, users) is only logged.
DATABASE_UNAVAILABLE = "The database is unavailable; try again later"
_READ = _ReadStatements()
# Request types whose views have ordered image lists.
_LIST_TYPES = {
    int(RequestType.ADD),
    int(RequestType.MERGE_INDEX_IMAGE),
    int(RequestType.FBC_OPERATIONS),
}


def _new_view(
    new: NewRequest,
    route: Route,
    *,
    request_id: int,
    batch_id: int,
    user: str | None,
    now: datetime,
    annotations: dict[str, Any] | None,
    operators: Mapping[str, str | None],
    state_id: int,
) -> RequestView:
    """The verbose view of a request just inserted, from what was inserted: what ``_views``
    would read back in the same transaction (tests/gateway/test_new_views.py compares
    the two), without the three statements. ``operators``: the known bundles' operators."""
    lists: dict[ImageList, list[str]] = {}
    bundle_operators: dict[str, str] = {}
    if int(new.type) in _LIST_TYPES:
        lists = {kind: list(items) for kind, items in new.image_lists.items() if items}
        for spec in lists.get(ImageList.BUNDLES, []):
            if (operator := operators.get(spec)) is not None:
                bundle_operators[spec] = operator
    return RequestView(
        id=request_id,
        type=new.type,
        batch_id=batch_id,
        user=user or None,
        state=RequestState.IN_PROGRESS,
        state_reason=INITIAL_REASON,
        updated=now,
        images=dict(new.images),
        scalars={name: new.scalars.get(name) for name in SCALAR_COLUMNS},
        image_lists=lists,
        bundle_operators=bundle_operators,
        build_tags=sorted(new.build_tags),
        operators=list(new.operators) if new.type == RequestType.RM else [],
        operator_package=new.operator_package,
        history=[(RequestState.IN_PROGRESS, INITIAL_REASON, now)],
        # stored as sorted JSON and read back
        batch_annotations=json.loads(json.dumps(annotations, sort_keys=True))
        if annotations is not None
        else None,
        route=route,
        last_state_id=state_id,
    )


#: (image column, the key of its pull spec in a view's request row)
_IMAGE_SPEC_KEYS = tuple((col, f"{col}_spec") for col in IMAGE_COLUMNS)
#: Marks a database connection (its pool ``info``) whose view statements are prepared.
_PREPARED = "iib_views_prepared"
#: How many users' ids a store keeps (a POST then skips reading its user's row).
_KNOWN_USERS = 4096


class Store:
    """Repository over the request store's database."""

    def __init__(self, engine: Engine, secrets: SecretBox, *, prepare: bool = True) -> None:
        self.engine = engine
        self._secrets = secrets
        # PostgreSQL reads views with server-side prepared statements (prepared once per
        # connection): planning the view's statements took ~1.1 ms of the server's CPU per
        # request read, executing them ~0.3 ms (docs/benchmarks.md). Off behind a pooler that
        # does not keep sessions (pgbouncer's transaction mode): IIB_DATABASE_PREPARE.
        self._prepare = prepare and engine.dialect.name == "postgresql"
        #: username -> id of users committed before (rows are never deleted nor renamed)
        self._user_ids: dict[str, int] = {}
        self._sqlite = engine.dialect.name == "sqlite"
        #: the dialect the cursor's statement texts are compiled for (Store._run)
        self._cursor_dialect: Any = _SQLITE if self._sqlite else engine.dialect
        # statements built once (Store._built)
        self._statements: dict[tuple[str, ...], Any] = {}
        # id(statement) -> (statement, its text for the DB-API cursor) (Store._run)
        self._cursor_statements: dict[int, tuple[Any, _CursorStatement]] = {}
        # an update's read of the request it changes (row-locked on PostgreSQL)
        r = m.REQUEST
        lock = select(r.c.type, r.c.state, r.c.state_reason, r.c.lease_token).where(
            r.c.id == bindparam("locked_id")
        )
        self._lock = lock if self._sqlite else lock.with_for_update()
        # what a request's final state deletes and marks (Store._apply)
        secret, o = m.REQUEST_SECRET, m.OUTBOX
        self._final_secrets = delete(secret).where(secret.c.request_id == bindparam("final_id"))
        self._final_work = (
            update(o)
            .where(
                o.c.request_id == bindparam("final_id"), o.c.kind == "work", o.c.sent_at.is_(None)
            )
            .values(sent_at=bindparam("final_at"))
        )
        # the relay's mark of published rows
        self._sent = update(o).where(self._in_ids(o.c.id)).values(sent_at=bindparam("sent_time"))
        # SQLite takes one writer at a time. Writers wait for each other here rather than in
        # SQLite's busy handler, which sleeps 1 ms, 2 ms, … up to 100 ms between tries and so
        # gave POST a 437 ms p99 with two request store processes (docs/benchmarks.md): a thread
        # lock within a process and, for a database file, an flock on "<file>-writer" across
        # processes (the kernel wakes the next waiter as soon as the lock is released).
        self._write_lock = threading.Lock() if self._sqlite else None
        self._write_flock: int | None = None
        database = engine.url.database if self._sqlite else None
        if database and database != ":memory:" and not database.startswith("file:"):
            self._write_flock = os.open(
                f"{database}-writer", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600
            )
            weakref.finalize(self, os.close, self._write_flock)
        # (connection, change, verbose views of the changed requests) -> messages
        self.outbox_builder: (
            Callable[[Connection, str, list[RequestView]], list[OutboxMessage]] | None
        ) = None
        # Called after a commit that wrote outbox rows (the relay wakes up on it).
        self.on_outbox: Callable[[], None] | None = None
        # Called after a commit that created requests or changed a request's state, with their
        # ids (the watch streams wake up on it: events.BuildEvents).
        self.on_change: Callable[[list[int]], None] | None = None

    @property
    def secrets(self) -> SecretBox:
        """The box encrypting the requests' secrets (and keying fingerprints)."""
        return self._secrets

    # --- transactions ----------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        try:
            if self._write_lock is not None:
                with self._write_lock, self._flocked(), self.engine.begin() as conn:
                    yield conn
            else:
                with self.engine.begin() as conn:
                    yield conn
        except OperationalError as exc:
            log.error("database error: %s", exc.orig)
            raise ExternalServiceError(DATABASE_UNAVAILABLE) from None

    @contextmanager
    def _flocked(self) -> Iterator[None]:
        if self._write_flock is None:
            yield
            return
        fcntl.flock(self._write_flock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._write_flock, fcntl.LOCK_UN)

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A connection for reading. On PostgreSQL its statements run without BEGIN and
        ROLLBACK (psycopg2's autocommit, a client-side flag, restored before the connection goes
        back to the pool): under READ COMMITTED each statement takes its own snapshot inside a
        transaction too, so the answers are the same with two round trips fewer (a GET took
        six with the pool's ``SELECT 1``, three now; docs/benchmarks.md)."""
        try:
            with self.engine.connect() as conn:
                if self._sqlite:
                    yield conn
                    return
                dbapi: Any = conn.connection.dbapi_connection
                dbapi.autocommit = True
                try:
                    yield conn
                finally:
                    if not dbapi.closed:
                        dbapi.autocommit = False
        except OperationalError as exc:
            log.error("database error: %s", exc.orig)
            raise ExternalServiceError(DATABASE_UNAVAILABLE) from None

    def health(self) -> None:
        """Raise IIBError when the database cannot answer ``SELECT 1``."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception:
            raise IIBError("Database health check failed.") from None

    # --- global get-or-create tables -----------------------------------------------------

    def _in_ids(self, column: Any) -> Any:
        """``column`` is one of the values of the parameter ``ids`` (given by ``_array``): one
        parameter, which the cursor's text can hold (``Store._run``), where an expanding IN
        cannot. SQLite: a JSON array read by json_each; PostgreSQL: ``= ANY`` of an array."""
        if self._sqlite:
            return _in_json_ids(column)
        return column == any_(bindparam("ids", type_=postgresql.ARRAY(column.type)))

    def _array(self, values: Iterable[Any]) -> Any:
        """``values`` as the parameter ``ids`` of ``_in_ids``: a JSON array for SQLite's
        ``json_each``, a list (an array) for PostgreSQL."""
        return json.dumps(list(values)) if self._sqlite else list(values)

    def _built(self, key: tuple[str, ...], build: Callable[[], Any]) -> Any:
        """The statement ``key``, built once per store: building a statement cost more Python
        than running it (docs/benchmarks.md). Two threads may both build it; either is kept."""
        statement = self._statements.get(key)
        if statement is None:
            statement = self._statements[key] = build()
        return statement

    def _insert_rows(
        self,
        conn: Connection,
        table: Any,
        rows: Sequence[Mapping[str, Any]],
        *,
        conflict: tuple[str, ...] = (),
    ) -> None:
        """Insert ``rows`` (each with the same keys) into ``table``, leaving out those that
        conflict on the columns ``conflict`` if given, on the DB-API cursor (``_CursorInsert``):
        many rows in one statement on PostgreSQL (``execute_values``), ``executemany`` on
        SQLite."""
        if not rows:
            return
        built = self._cursor_insert(table, tuple(rows[0]), returning=False, conflict=conflict)
        if len(rows) == 1:
            self._cursor_run(conn, built.one, built.params(rows[0]))
        elif self._sqlite:
            self._cursor_run(conn, built.many, [built.params(row) for row in rows], many=True)
        else:
            params = [built.params(row) for row in rows]
            self._cursor_run(conn, built.many, params, template=built.template)

    def _insert_id(self, conn: Connection, table: Any, row: Mapping[str, Any]) -> int:
        """Insert ``row`` into ``table``; its new id."""
        built = self._cursor_insert(table, tuple(row), returning=not self._sqlite, conflict=())
        if self._sqlite:
            return int(self._cursor_run(conn, built.one, built.params(row), lastrowid=True))
        found = self._cursor_run(conn, built.one, built.params(row), fetch=True)
        return int(found[0][0])

    def _cursor_insert(
        self, table: Any, keys: tuple[str, ...], *, returning: bool, conflict: tuple[str, ...]
    ) -> _CursorInsert:
        """The INSERT of ``keys`` into ``table``, built once per store and set of columns
        (a table's columns bound how many there can be)."""
        key = ("cursor_insert", table.name, "returning" if returning else "", *conflict, "", *keys)
        return self._built(
            key,
            lambda: _cursor_insert(
                table, keys, self._cursor_dialect, returning=returning, conflict=conflict
            ),
        )

    def _run(
        self, conn: Connection, statement: Any, params: Mapping[str, Any], *, fetch: bool = False
    ) -> Any:
        """Run ``statement``, one the store built once and keeps, with ``params``; its rows
        (tuples) if ``fetch``. Its psycopg2 or sqlite3 text (``_CursorStatement``, compiled on
        first use) runs on the cursor: SQLAlchemy's execute around it cost more Python than the
        statement (docs/benchmarks.md)."""
        found = self._cursor_statements.get(id(statement))
        if found is None:
            # keyed by identity, the statement kept alongside so that its id stays its own
            found = (statement, _cursor_statement(statement, self._cursor_dialect))
            self._cursor_statements[id(statement)] = found
        built = found[1]
        rows = self._cursor_run(conn, built.sql, built.params(params), fetch=fetch)
        return built.rows(rows) if fetch else None

    def _cursor_run(
        self,
        conn: Connection,
        sql: str,
        params: Any,
        *,
        template: str | None = None,
        fetch: bool = False,
        many: bool = False,
        lastrowid: bool = False,
    ) -> Any:
        """Run ``sql`` on the DB-API cursor of ``conn`` (psycopg2 or sqlite3; in its
        transaction, if one is open): ``execute_values`` (psycopg2) with ``template`` given,
        ``executemany`` with ``many``, else ``execute``; the rows if ``fetch``, the new row's id
        if ``lastrowid`` (sqlite3). Errors are SQLAlchemy's, as
        for its own statements: a lost connection leaves the pool (OperationalError, which
        callers answer with DATABASE_UNAVAILABLE), a unique violation is an IntegrityError."""
        dbapi: Any = conn.connection.dbapi_connection
        error: Any = conn.dialect.loaded_dbapi.Error
        try:
            with contextlib.closing(dbapi.cursor()) as cursor:
                if template is not None:
                    return psycopg2.extras.execute_values(
                        cursor, sql, params, template=template, page_size=500, fetch=fetch
                    )
                if many:
                    cursor.executemany(sql, params)
                    return None
                cursor.execute(sql, params)
                if lastrowid:
                    return cursor.lastrowid
                return cursor.fetchall() if fetch else None
        except error as exc:
            if conn.dialect.is_disconnect(exc, dbapi, None):
                conn.invalidate(exc)
            raise DBAPIError.instance(sql, params, exc, error) from exc

    def _get_or_create(
        self, conn: Connection, table: Any, column: Any, values: Iterable[str]
    ) -> dict[str, int]:
        rows = self._get_or_create_rows(
            conn, table, column, values, column.name, lambda: select(table.c.id, column)
        )
        return {value: row[0] for value, row in rows.items()}

    def _get_or_create_rows(
        self,
        conn: Connection,
        table: Any,
        column: Any,
        values: Iterable[str],
        name: str,
        lookup: Callable[[], Any],
    ) -> dict[str, Any]:
        """value -> its row as ``lookup()`` (a select of ``id, value, ...``, built once per
        store under ``name``) reads it."""
        wanted = list(dict.fromkeys(v for v in values if v is not None))
        if not wanted:
            return {}

        statement = self._built(
            ("find", table.name, name), lambda: lookup().where(self._in_ids(column))
        )

        def find(chunk: list[str]) -> Any:
            return self._run(conn, statement, {"ids": self._array(chunk)}, fetch=True)

        found = {row[1]: row for chunk in _chunks(wanted, 500) for row in find(chunk)}
        missing = [v for v in wanted if v not in found]
        if missing:
            self._insert_rows(
                conn, table, [{column.name: v} for v in missing], conflict=(column.name,)
            )
            for chunk in _chunks(missing, 500):
                for row in find(chunk):
                    found[row[1]] = row
        return found

    def _image_ids(self, conn: Connection, specs: Iterable[str]) -> dict[str, int]:
        return self._get_or_create(conn, m.IMAGE, m.IMAGE.c.pull_specification, specs)

    def _images(self, conn: Connection, specs: Iterable[str]) -> dict[str, Any]:
        """pull spec -> (id, pull spec, the name of the operator it is a bundle of or None)."""
        i, o = m.IMAGE, m.OPERATOR
        return self._get_or_create_rows(
            conn,
            i,
            i.c.pull_specification,
            specs,
            "with_operator",
            lambda: select(i.c.id, i.c.pull_specification, o.c.name).outerjoin(
                o, i.c.operator_id == o.c.id
            ),
        )

    def _operator_ids(self, conn: Connection, names: Iterable[str]) -> dict[str, int]:
        return self._get_or_create(conn, m.OPERATOR, m.OPERATOR.c.name, names)

    def _user_id(self, conn: Connection, username: str | None) -> int | None:
        if not username:
            return None
        known = self._user_ids.get(username)
        if known is not None:
            return known
        u = m.USER
        # the submission's first statement: a row found here was committed by another one
        found = conn.execute(select(u.c.id).where(u.c.username == username)).scalar()
        if found is None:
            return self._get_or_create(conn, u, u.c.username, [username])[username]
        if len(self._user_ids) >= _KNOWN_USERS:
            self._user_ids.clear()
        self._user_ids[username] = int(found)
        return int(found)

    def _schema_id(self, conn: Connection, schema: str) -> int:
        digest = hashlib.sha256(schema.encode()).hexdigest()
        table = m.DEPRECATION_SCHEMA
        row = conn.execute(select(table.c.id).where(table.c.sha256 == digest)).first()
        if row:
            return int(row[0])
        self._insert_rows(conn, table, [{"sha256": digest, "schema": schema}], conflict=("sha256",))
        return int(conn.execute(select(table.c.id).where(table.c.sha256 == digest)).scalar_one())

    # --- create --------------------------------------------------------------------------

    def create(
        self,
        requests: Sequence[NewRequest],
        *,
        user: str | None,
        queues: Sequence[str | None],
        annotations: dict[str, Any] | None = None,
        idempotency: tuple[str, str, str] | None = None,
    ) -> Created:
        """Store new requests (one batch), their states, secrets and outbox rows atomically.

        ``idempotency`` is ``(key, endpoint, fingerprint)``; a key already used by the same user
        returns the original requests (``replayed``) or raises ConflictError for other content.
        """
        if idempotency is not None:
            replay = self._replay(user, idempotency)
            if replay is not None:
                return replay
        try:
            with self._write() as conn:
                created = self._create(conn, requests, user, queues, annotations, idempotency)
            self._notify()
            self._changed(created.request_ids)
            return created
        except IntegrityError:
            if idempotency is None:
                raise
            # A concurrent submission with the same key won the race: answer with its result.
            replay = self._replay(user, idempotency)
            if replay is None:
                raise
            return replay

    def _replay(self, user: str | None, idempotency: tuple[str, str, str]) -> Created | None:
        from services.common.errors import ConflictError

        key, endpoint, fingerprint = idempotency
        t = m.IDEMPOTENCY_KEY
        with self._read() as conn:
            row = conn.execute(
                select(t.c.endpoint, t.c.fingerprint, t.c.batch_id).where(
                    t.c.scope == (user or ""), t.c.key == key
                )
            ).first()
            if row is None:
                return None
            if row.endpoint != endpoint or row.fingerprint != fingerprint:
                raise ConflictError(
                    f"The request_id {key} was already used for a different request"
                )
            ids = [
                r[0]
                for r in conn.execute(
                    select(m.REQUEST.c.id)
                    .where(m.REQUEST.c.batch_id == row.batch_id)
                    .order_by(m.REQUEST.c.id)
                )
            ]
        return Created(ids, replayed=True)

    def _create(
        self,
        conn: Connection,
        requests: Sequence[NewRequest],
        user: str | None,
        queues: Sequence[str | None],
        annotations: dict[str, Any] | None,
        idempotency: tuple[str, str, str] | None,
    ) -> Created:
        now = utcnow()
        user_id = self._user_id(conn, user)
        batch_id = self._insert_id(
            conn,
            m.BATCH,
            {
                "annotations": json.dumps(annotations, sort_keys=True)
                if annotations is not None
                else None
            },
        )
        specs: list[str] = []
        operators: list[str] = []
        for new in requests:
            specs.extend(new.images.values())
            for items in new.image_lists.values():
                specs.extend(items)
            operators.extend(new.operators)
            if new.operator_package:
                operators.append(new.operator_package)
        images = self._images(conn, specs)
        image_ids = {spec: row[0] for spec, row in images.items()}
        bundle_operators = {spec: row[2] for spec, row in images.items()}
        operator_ids = self._operator_ids(conn, operators)
        views: list[RequestView] = []

        ids: list[int] = []
        for new, queue in zip(requests, queues, strict=True):
            row: dict[str, Any] = {
                "type": int(new.type),
                "batch_id": batch_id,
                "user_id": user_id,
                "state": int(RequestState.IN_PROGRESS),
                "state_reason": INITIAL_REASON,
                "updated": now,
                "created": now,
                "queue": queue,
                "serial": new.serial,
                "serial_key": new.serial_index,
                "worker_args": json.dumps(new.worker_args, sort_keys=True),
            }
            for column, spec in new.images.items():
                row[f"{column}_id"] = image_ids[spec]
            row.update(new.scalars)
            if new.operator_package:
                row["operator_package_id"] = operator_ids[new.operator_package]
            if new.deprecation_schema is not None:
                row["deprecation_schema_id"] = self._schema_id(conn, new.deprecation_schema)
            request_id = self._insert_id(conn, m.REQUEST, row)
            ids.append(request_id)
            state_id = self._insert_id(
                conn,
                m.REQUEST_STATE,
                {
                    "request_id": request_id,
                    "state": int(RequestState.IN_PROGRESS),
                    "state_reason": INITIAL_REASON,
                    "updated": now,
                },
            )
            views.append(
                _new_view(
                    new,
                    Route(queue, new.serial, new.serial_index),
                    request_id=request_id,
                    batch_id=batch_id,
                    user=user,
                    now=now,
                    annotations=annotations,
                    operators=bundle_operators,
                    state_id=state_id,
                )
            )
            list_rows = [
                {
                    "request_id": request_id,
                    "kind": int(kind),
                    "position": i,
                    "image_id": image_ids[s],
                }
                for kind, items in new.image_lists.items()
                for i, s in enumerate(items)
            ]
            self._insert_rows(conn, m.REQUEST_IMAGE, list_rows)
            self._insert_rows(
                conn,
                m.REQUEST_OPERATOR,
                [
                    {"request_id": request_id, "position": i, "operator_id": operator_ids[o]}
                    for i, o in enumerate(new.operators)
                ],
            )
            self._insert_rows(
                conn,
                m.REQUEST_BUILD_TAG,
                [{"request_id": request_id, "name": t} for t in new.build_tags],
            )
            if new.secrets:
                self._insert_rows(
                    conn,
                    m.REQUEST_SECRET,
                    [
                        {
                            "request_id": request_id,
                            "name": k,
                            "ciphertext": self._secrets.encrypt(v),
                        }
                        for k, v in new.secrets.items()
                    ],
                )
        if idempotency is not None:
            key, endpoint, fingerprint = idempotency
            self._insert_rows(
                conn,
                m.IDEMPOTENCY_KEY,
                [
                    {
                        "scope": user or "",
                        "key": key,
                        "endpoint": endpoint,
                        "fingerprint": fingerprint,
                        "batch_id": batch_id,
                        "created": now,
                    }
                ],
            )
        self._write_outbox(conn, "created", views)
        return Created(ids, replayed=False, views=views)

    def _notify(self) -> None:
        if self.on_outbox is not None:
            self.on_outbox()

    def _changed(self, request_ids: list[int]) -> None:
        if self.on_change is not None:
            self.on_change(request_ids)

    def _write_outbox(self, conn: Connection, change: str, views: list[RequestView]) -> None:
        if self.outbox_builder is None:
            # A change nobody announces would never reach a worker or an event subscriber.
            raise IIBError(
                "the request store has no outbox planner: refusing an unannounced change"
            )
        messages = self.outbox_builder(conn, change, views)
        if messages:
            now = utcnow()
            self._insert_rows(
                conn,
                m.OUTBOX,
                [
                    {
                        "kind": msg.kind,
                        "subject": msg.subject,
                        "msg_id": msg.msg_id,
                        "payload": msg.payload,
                        "headers": json.dumps(msg.headers) if msg.headers else None,
                        "request_id": msg.request_id,
                        "created": now,
                        "sent_at": None,
                        "attempts": 0,
                    }
                    for msg in messages
                ],
            )

    # --- read ------------------------------------------------------------------------------

    def views(
        self, ids: Sequence[int], verbose: bool, conn: Connection | None = None
    ) -> list[RequestView]:
        """Views of the given requests, in the order of ``ids`` (unknown ids are skipped)."""
        if conn is None:
            with self._read() as c:
                return self._views(c, ids, verbose)
        return self._views(conn, ids, verbose)

    def _views(self, conn: Connection, ids: Sequence[int], verbose: bool) -> list[RequestView]:
        if not ids:
            return []
        ids = list(ids)
        # rows by id, as dicts: a Row's attributes cost ~4× a mapping's keys
        # (getattr on 20 rows' 28 scalar and image columns: 0.70 ms against 0.18 ms)
        keys = _READ.keys["requests"]
        by_id = {
            row[0]: dict(zip(keys, row, strict=True))
            for row in self._view_rows(conn, "requests", ids)
        }
        lists: dict[int, dict[ImageList, list[str]]] = {}
        bundle_operators: dict[int, dict[str, str]] = {}
        removed: dict[int, list[str]] = {}
        arches: dict[int, list[str]] = {}
        tags: dict[int, list[str]] = {}
        for request_id, tag, number, _position, value, operator in self._view_rows(
            conn, "items", ids
        ):
            request_type = by_id[request_id]["type"]
            if tag == "l":
                if request_type not in _LIST_TYPES:
                    continue
                kind = ImageList(number)
                lists.setdefault(request_id, {}).setdefault(kind, []).append(value)
                if kind == ImageList.BUNDLES and operator is not None:
                    bundle_operators.setdefault(request_id, {})[value] = operator
            elif tag == "r":
                if request_type == RequestType.RM:
                    removed.setdefault(request_id, []).append(value)
            else:
                (arches if tag == "a" else tags).setdefault(request_id, []).append(value)
        history: dict[int, list[tuple[RequestState, str, datetime]]] = {}
        last_state: dict[int, int] = {}  # the newest entry's id (the outbox's message ids)
        if verbose:
            # a statement of its own: merged into the UNION above, GET /builds/<id> ran at 524
            # and 593 req/s against 613 and 623 (docs/benchmarks.md, 2026-12-05)
            for state_id, of, state, reason, updated in self._view_rows(conn, "history", ids):
                entries = history.setdefault(of, [])
                if not entries:
                    last_state[of] = state_id
                entries.append((RequestState(state), reason, updated))

        out = []
        for request_id in ids:
            found = by_id.get(request_id)
            if found is None:
                continue
            row = found
            view = RequestView(
                id=request_id,
                type=RequestType(row["type"]),
                batch_id=row["batch_id"],
                user=row["username"],
                state=RequestState(row["state"]),
                state_reason=row["state_reason"],
                updated=row["updated"],
                arches=arches.get(request_id, []),
                # sorted here, not by the database's collation: a new view sorts them the same
                build_tags=sorted(tags.get(request_id, [])),
                images={
                    col: spec for col, key in _IMAGE_SPEC_KEYS if (spec := row[key]) is not None
                },
                scalars={name: row[name] for name in SCALAR_COLUMNS},
                image_lists=lists.get(request_id, {}),
                bundle_operators=bundle_operators.get(request_id, {}),
                operators=removed.get(request_id, []),
                operator_package=row["operator_package"],
                history=history.get(request_id, []),
                batch_annotations=json.loads(row["annotations"]) if row["annotations"] else None,
                route=Route(row["queue"], bool(row["serial"]), row["serial_key"]),
                last_state_id=last_state.get(request_id),
            )
            out.append(view)
        return out

    def _view_rows(self, conn: Connection, name: str, ids: list[int]) -> Any:
        """The rows (tuples, columns as in ``_READ.keys[name]``) of the view statement
        ``name`` for ``ids``. On PostgreSQL: the statement prepared on this connection
        (prepared here on its first use; a prepared statement outlives the transaction that
        prepared it, even a rolled back one), run on psycopg2's cursor. SQLAlchemy's execute
        around it cost more Python than the cursor's (no column of these statements has a
        result processor on psycopg2, so the rows are the same): a view read took 0.67-0.70 ms
        of CPU through it against 0.36-0.47 ms (docs/benchmarks.md). On SQLite: the statement
        with the ids as one JSON array, run on sqlite3's cursor, its columns' result processors
        applied as SQLAlchemy would."""
        if self._sqlite:
            built = _READ.sqlite[name]
            rows = self._cursor_run(conn, built.sql, {"ids": self._array(ids)}, fetch=True)
            return built.rows(rows)
        if not self._prepare:
            return conn.execute(_READ.views[name], {"ids": ids})
        info = conn.connection.info
        if not info.get(_PREPARED):
            for prepared, sql in _READ.prepared.items():
                conn.exec_driver_sql(f"PREPARE {prepared}(integer[]) AS {sql}")
            info[_PREPARED] = True
        return self._cursor_run(conn, _READ.execute[name], (ids,), fetch=True)

    def view(self, request_id: int, verbose: bool = True) -> RequestView:
        views = self.views([request_id], verbose)
        if not views:
            raise NotFoundError()
        return views[0]

    def request_meta(
        self, request_id: int
    ) -> tuple[RequestType, RequestState, datetime, str | None]:
        """(type, state, state updated, organization) of a request, for the artifact endpoints."""
        r = m.REQUEST
        with self._read() as conn:
            row = conn.execute(
                select(r.c.type, r.c.state, r.c.updated, r.c.organization).where(
                    r.c.id == request_id
                )
            ).first()
        if row is None:
            raise NotFoundError()
        return RequestType(row.type), RequestState(row.state), row.updated, row.organization

    def deprecation_schema(self, request_id: int) -> tuple[RequestType, str | None]:
        r, d = m.REQUEST, m.DEPRECATION_SCHEMA
        with self._read() as conn:
            row = conn.execute(
                select(r.c.type, d.c.schema)
                .outerjoin(d, r.c.deprecation_schema_id == d.c.id)
                .where(r.c.id == request_id)
            ).first()
        if row is None:
            raise NotFoundError()
        return RequestType(row.type), row.schema

    def image_id(self, pull_spec: str) -> int | None:
        i = m.IMAGE
        with self._read() as conn:
            return conn.execute(select(i.c.id).where(i.c.pull_specification == pull_spec)).scalar()

    def image_ids_with_prefix(self, prefix: str) -> list[int]:
        i = m.IMAGE
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        with self._read() as conn:
            return list(
                conn.execute(
                    select(i.c.id).where(i.c.pull_specification.like(escaped + "%", escape="\\"))
                ).scalars()
            )

    def list_page(
        self,
        filters: ListFilters,
        page: int,
        per_page: int,
        verbose: bool,
        *,
        before_id: int | None = None,
        ids: Sequence[int] | None = None,
    ) -> tuple[list[RequestView], int]:
        """One page of requests (newest first) and the total number matching. ``before_id``:
        only older requests on the page (keyset pages of the typed API; the total still counts
        them all); ``ids``: only among these requests."""
        r = m.REQUEST
        conds: list[Any] = []
        if ids is not None:
            conds.append(r.c.id.in_(list(ids)))
        if filters.state is not None:
            conds.append(r.c.state == int(filters.state))
        if filters.batch is not None:
            conds.append(r.c.batch_id == filters.batch)
        if filters.request_type is not None:
            conds.append(r.c.type == int(filters.request_type))
        if filters.user is not None:
            u = m.USER
            conds.append(
                r.c.user_id == select(u.c.id).where(u.c.username == filters.user).scalar_subquery()
            )
        index_types = [
            int(t)
            for t in (
                RequestType.ADD,
                RequestType.RM,
                RequestType.CREATE_EMPTY_INDEX,
                RequestType.FBC_OPERATIONS,
            )
        ]
        if filters.from_index_ids is not None:
            conds.append(r.c.from_index_id.in_(filters.from_index_ids))
            conds.append(r.c.type.in_(index_types))
        if filters.index_image_id is not None:
            conds.append(r.c.index_image_id == filters.index_image_id)
            conds.append(r.c.type.in_([*index_types, int(RequestType.MERGE_INDEX_IMAGE)]))
        # unfiltered: the count the triggers keep (models.RequestCount), not a scan of every row
        unfiltered = not conds and before_id is None
        counted = _READ.total if not conds else select(func.count()).select_from(r).where(*conds)
        offset = (page - 1) * per_page
        with self._read() as conn:
            total = int(conn.execute(counted).scalar_one())
            if unfiltered and offset > total // 2:
                # a page in the older half: OFFSET walks that many index entries, so walk from
                # the oldest end instead. The same rows as OFFSET from the newest end when
                # ``total`` was read (requests are added at the newest end)
                window = {
                    "limit": max(0, min(per_page, total - offset)),
                    "offset": max(0, total - offset - per_page),
                }
                page_ids = list(conn.execute(_READ.oldest_first, window).scalars())[::-1]
            else:
                if before_id is not None:
                    conds.append(r.c.id < before_id)
                # the statement built once, narrowed by the filters when there are any
                newest_first = _READ.newest_first.where(*conds) if conds else _READ.newest_first
                window = {"limit": per_page, "offset": offset}
                page_ids = list(conn.execute(newest_first, window).scalars())
            return self._views(conn, page_ids, verbose), total

    # --- update ----------------------------------------------------------------------------

    def claim_lease(
        self, request_id: int, holder: str, ttl: float, token: int = 0
    ) -> tuple[int, float]:
        """Claim (``token`` 0) or renew (the current ``token``) the request's build lease for
        ``ttl`` seconds; returns (fencing token, seconds left).

        A new claim gets the next token and is refused (``LeaseHeldError``) while another
        holder's lease runs; a renewal with a token that is no longer current is refused
        (``LeaseLostError``); a final request cannot be claimed (``FinalStateError``).
        """
        r = m.REQUEST
        with self._write() as conn:
            stmt = select(r.c.state, r.c.lease_token, r.c.lease_holder, r.c.lease_expires).where(
                r.c.id == request_id
            )
            if not self._sqlite:
                stmt = stmt.with_for_update()
            row = conn.execute(stmt).first()
            if row is None:
                raise NotFoundError()
            state = RequestState(row.state)
            if state in FINAL_STATES:
                raise FinalStateError(state.api_name)
            now = utcnow()
            live = row.lease_expires is not None and row.lease_expires > now
            if token:
                if token != row.lease_token:
                    raise LeaseLostError(
                        f"The build lease {token} of request {request_id} is no longer current"
                    )
                new_token = token
            else:
                if live and row.lease_holder != holder:
                    remaining = (row.lease_expires - now).total_seconds()
                    raise LeaseHeldError(
                        f"Request {request_id} is being built by {row.lease_holder} "
                        f"(lease for {remaining:.0f} more seconds)",
                        remaining,
                    )
                new_token = int(row.lease_token) + 1
            conn.execute(
                update(r)
                .where(r.c.id == request_id)
                .values(
                    lease_token=new_token,
                    lease_holder=holder,
                    lease_expires=now + timedelta(seconds=ttl),
                )
            )
        return new_token, ttl

    def claim_followers(
        self, head_id: int, holder: str, ttl: float, limit: int, types: Collection[RequestType]
    ) -> list[tuple[int, int]]:
        """Claim, for ``holder`` (which holds ``head_id``'s lease), the requests queued behind a
        serial request on the same index, in order: in progress, of one of ``types``, not held
        by anyone else, at most ``limit``; the first that does not qualify ends the group.
        Returns ``(request id, lease token)`` per claimed request."""
        r = m.REQUEST
        out: list[tuple[int, int]] = []
        with self._write() as conn:
            head = conn.execute(
                select(r.c.serial_key, r.c.lease_holder, r.c.lease_expires).where(r.c.id == head_id)
            ).first()
            now = utcnow()
            if (
                head is None
                or not head.serial_key
                or head.lease_holder != holder
                or head.lease_expires is None
                or head.lease_expires <= now
                or limit <= 0
            ):
                return out
            stmt = (
                select(
                    r.c.id,
                    r.c.type,
                    r.c.state,
                    r.c.lease_token,
                    r.c.lease_holder,
                    r.c.lease_expires,
                )
                .where(r.c.serial_key == head.serial_key, r.c.id > head_id)
                .order_by(r.c.id)
                .limit(limit)
            )
            if not self._sqlite:
                stmt = stmt.with_for_update()
            for row in conn.execute(stmt).all():
                leased = row.lease_expires is not None and row.lease_expires > now
                if (
                    row.state != int(RequestState.IN_PROGRESS)
                    or RequestType(row.type) not in types
                    or (leased and row.lease_holder != holder)
                ):
                    break
                token = int(row.lease_token) + 1
                conn.execute(
                    update(r)
                    .where(r.c.id == row.id)
                    .values(
                        lease_token=token,
                        lease_holder=holder,
                        lease_expires=now + timedelta(seconds=ttl),
                    )
                )
                out.append((int(row.id), token))
        return out

    @staticmethod
    def check_lease(request_id: int, token: int, current: int | None) -> None:
        """Refuse (``LeaseLostError``) a worker update whose lease token is not ``current``."""
        if current is not None and token != current:
            raise LeaseLostError(
                f"The build lease {token} of request {request_id} is no longer current"
            )

    def update(
        self,
        request_id: int,
        plan_for: Callable[[RequestType, RequestState, str], Any],
        *,
        lease_token: int = 0,
    ) -> tuple[RequestView, bool]:
        """Apply an update planned from the request's current type and state, atomically.

        ``plan_for(type, state, reason)`` validates and returns a ``PatchPlan``; it runs while
        the row is locked, so two workers cannot both move a request out of in_progress.
        Returns the verbose view and whether the state changed.
        """
        with self._write() as conn:
            # the request's row (locked on PostgreSQL) with its lease, in one statement
            rows = self._run(conn, self._lock, {"locked_id": request_id}, fetch=True)
            if not rows:
                raise NotFoundError()
            request_type, state, reason, current_lease = rows[0]
            if lease_token:
                self.check_lease(request_id, lease_token, current_lease)
            plan = plan_for(RequestType(request_type), RequestState(state), reason)
            state_changed = self._apply(conn, request_id, plan)
            view = self._views(conn, [request_id], True)[0]
            if state_changed:
                self._write_outbox(conn, "state", [view])
        if state_changed:
            self._notify()
            self._changed([request_id])
        return view, state_changed

    def _apply(self, conn: Connection, request_id: int, plan: Any) -> bool:
        r = m.REQUEST
        values: dict[str, Any] = dict(plan.scalars)
        if plan.images:
            ids = self._image_ids(conn, plan.images.values())
            for column, spec in plan.images.items():
                values[f"{column}_id"] = ids[spec]
        state_changed = plan.state is not None
        if state_changed:
            now = utcnow()
            values.update(state=int(plan.state), state_reason=plan.state_reason, updated=now)
            self._insert_rows(
                conn,
                m.REQUEST_STATE,
                [
                    {
                        "request_id": request_id,
                        "state": int(plan.state),
                        "state_reason": plan.state_reason,
                        "updated": now,
                    }
                ],
            )
            if plan.state in FINAL_STATES:
                # Secrets are only needed while the request runs; a work item still held back
                # (a coalesced request finished in its group) is never needed now. Both
                # statements built once, as the others here.
                self._run(conn, self._final_secrets, {"final_id": request_id})
                self._run(conn, self._final_work, {"final_id": request_id, "final_at": now})
        if values:
            # built once per set of columns; the parameters are named set_<column> (SQLAlchemy
            # keeps a column's own name for the SET clause it would derive itself)
            columns = tuple(sorted(values))
            stmt = self._built(
                ("update", "request", *columns),
                lambda: (
                    update(r)
                    .where(r.c.id == bindparam("updated_id"))
                    .values({c: bindparam(f"set_{c}", type_=r.c[c].type) for c in columns})
                ),
            )
            self._run(
                conn,
                stmt,
                {"updated_id": request_id, **{f"set_{c}": v for c, v in values.items()}},
            )
        if plan.arches:
            self._insert_rows(
                conn,
                m.REQUEST_ARCHITECTURE,
                [{"request_id": request_id, "name": a} for a in plan.arches],
                conflict=("request_id", "name"),
            )
        if plan.bundle_mapping:
            operator_ids = self._operator_ids(conn, plan.bundle_mapping.keys())
            bundles = [b for bs in plan.bundle_mapping.values() for b in bs]
            image_ids = self._image_ids(conn, bundles)
            i = m.IMAGE
            for operator, specs in plan.bundle_mapping.items():
                bundle_ids = [image_ids[s] for s in specs]
                if bundle_ids:
                    conn.execute(
                        update(i)
                        .where(i.c.id.in_(bundle_ids))
                        .values(operator_id=operator_ids[operator])
                    )
        if plan.fbc_fragments_resolved is not None:
            ri = m.REQUEST_IMAGE
            kind = int(ImageList.FBC_FRAGMENTS_RESOLVED)
            conn.execute(delete(ri).where(ri.c.request_id == request_id, ri.c.kind == kind))
            if plan.fbc_fragments_resolved:
                ids_map = self._image_ids(conn, plan.fbc_fragments_resolved)
                self._insert_rows(
                    conn,
                    ri,
                    [
                        {
                            "request_id": request_id,
                            "kind": kind,
                            "position": n,
                            "image_id": ids_map[s],
                        }
                        for n, s in enumerate(plan.fbc_fragments_resolved)
                    ],
                )
        return state_changed

    # --- worker access -------------------------------------------------------------------

    def stored_request(self, request_id: int) -> StoredRequest:
        """Everything a worker needs about a request, secrets decrypted."""
        r, d, s = m.REQUEST, m.DEPRECATION_SCHEMA, m.REQUEST_SECRET
        with self._read() as conn:
            row = conn.execute(
                select(r.c.queue, r.c.serial, r.c.serial_key, r.c.worker_args, d.c.schema)
                .outerjoin(d, r.c.deprecation_schema_id == d.c.id)
                .where(r.c.id == request_id)
            ).first()
            if row is None:
                raise NotFoundError(f"Request {request_id} does not exist")
            views = self._views(conn, [request_id], False)
            secrets = {
                name: self._secrets.decrypt(ciphertext)
                for name, ciphertext in conn.execute(
                    select(s.c.name, s.c.ciphertext).where(s.c.request_id == request_id)
                )
            }
        view = views[0]
        return StoredRequest(
            id=view.id,
            type=view.type,
            state=view.state,
            state_reason=view.state_reason,
            user=view.user,
            batch_id=view.batch_id,
            queue=row.queue,
            serial=bool(row.serial),
            serial_key=row.serial_key,
            worker_args=json.loads(row.worker_args) if row.worker_args else {},
            view=view,
            deprecation_schema=row.schema,
            secrets=secrets,
        )

    # --- outbox (the relay's side) ----------------------------------------------------------

    def publishable_outbox(self, limit: int = 500) -> list[OutboxRow]:
        """Unsent outbox rows for NATS in order, without the work items SERIAL ordering holds
        back (nor the UMB rows: ``publishable_umb``).

        A serial request's work item waits until every earlier request writing the same index
        (``serial_key``) is final, so requests for one index never run at once and run in
        submission order.
        """
        with self._read() as conn:
            rows = self._run(conn, _READ.publishable, {"now": utcnow(), "limit": limit}, fetch=True)
        return [OutboxRow(*row) for row in rows]

    def publishable_umb(self, limit: int = 500) -> list[Any]:
        """Unsent outbox rows for IIB's AMQP broker (UMB), in order."""
        o = m.OUTBOX
        stmt = (
            select(o.c.id, o.c.kind, o.c.subject, o.c.msg_id, o.c.headers, o.c.payload)
            .where(o.c.sent_at.is_(None), o.c.dead_at.is_(None), o.c.kind.in_(UMB_KINDS))
            .order_by(o.c.id)
            .limit(limit)
        )
        with self._read() as conn:
            return list(conn.execute(stmt).all())

    def mark_sent(self, outbox_ids: Sequence[int]) -> None:
        if not outbox_ids:
            return
        with self._write() as conn:
            self._run(conn, self._sent, {"ids": self._array(outbox_ids), "sent_time": utcnow()})

    def mark_attempt_failed(
        self, outbox_ids: Sequence[int], error: str, max_attempts: int | None = None
    ) -> list[int]:
        """Count a failed publish; rows reaching ``max_attempts`` become dead letters (their
        ids are returned)."""
        if not outbox_ids:
            return []
        o = m.OUTBOX
        ids = list(outbox_ids)
        with self._write() as conn:
            conn.execute(
                update(o)
                .where(o.c.id.in_(ids))
                .values(attempts=o.c.attempts + 1, last_error=error[:1000])
            )
            if max_attempts is None:
                return []
            exhausted = [
                int(row.id)
                for row in conn.execute(
                    select(o.c.id).where(o.c.id.in_(ids), o.c.attempts >= max_attempts)
                )
            ]
            if exhausted:
                conn.execute(update(o).where(o.c.id.in_(exhausted)).values(dead_at=utcnow()))
            return exhausted

    def mark_dead(self, reasons: Mapping[int, str]) -> None:
        """Move rows to the dead letters (never published, never blocking), with the reason."""
        if not reasons:
            return
        o = m.OUTBOX
        now = utcnow()
        with self._write() as conn:
            for outbox_id, reason in reasons.items():
                conn.execute(
                    update(o)
                    .where(o.c.id == outbox_id)
                    .values(dead_at=now, last_error=reason[:1000], attempts=o.c.attempts + 1)
                )

    def dead_letters(self) -> list[Any]:
        """Outbox rows that were given up on: id, kind, subject, request, reason, when."""
        o = m.OUTBOX
        with self._read() as conn:
            return list(
                conn.execute(
                    select(
                        o.c.id, o.c.kind, o.c.subject, o.c.request_id, o.c.last_error, o.c.dead_at
                    )
                    .where(o.c.dead_at.is_not(None))
                    .order_by(o.c.id)
                ).all()
            )

    def prune_outbox(self, older_than: datetime) -> int:
        """Delete rows published (or given up on) before ``older_than``; how many."""
        o = m.OUTBOX
        with self._write() as conn:
            result = conn.execute(
                delete(o).where(
                    ((o.c.sent_at.is_not(None)) & (o.c.sent_at < older_than))
                    | ((o.c.dead_at.is_not(None)) & (o.c.dead_at < older_than))
                )
            )
            return int(result.rowcount or 0)

    def outbox_backlog(self) -> dict[str, int]:
        """Unsent outbox rows per subject (work items held or not yet published, events)."""
        o = m.OUTBOX
        with self._read() as conn:
            return {
                row.subject: int(row.n)
                for row in conn.execute(
                    select(o.c.subject, func.count().label("n"))
                    .where(o.c.sent_at.is_(None), o.c.dead_at.is_(None))
                    .group_by(o.c.subject)
                )
            }

    def fail_if_in_progress(self, request_id: int, reason: str) -> bool:
        """Mark a request failed unless it is already final; True when it changed."""
        from services.request_store.patch import PatchPlan

        def plan(_t: RequestType, state: RequestState, _reason: str) -> PatchPlan:
            if state in FINAL_STATES:
                return PatchPlan()
            return PatchPlan(state=RequestState.FAILED, state_reason=reason)

        try:
            _, changed = self.update(request_id, plan)
        except NotFoundError:
            return False
        return changed

    def batch_states(self, conn: Connection, batch_ids: Iterable[int]) -> dict[int, list[int]]:
        """Request states per batch (for the derived batch state)."""
        r = m.REQUEST
        out: dict[int, list[int]] = {}
        for row in conn.execute(
            select(r.c.batch_id, r.c.state).where(r.c.batch_id.in_(list(batch_ids)))
        ):
            out.setdefault(row.batch_id, []).append(row.state)
        return out


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
