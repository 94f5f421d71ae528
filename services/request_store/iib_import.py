"""Bring an IIB database across: ``iib db import-iib --from postgresql://...``.

Reads an IIB 9.5.x PostgreSQL database (schema revision ``691c5d6465a0``, the head of IIB's
Alembic migrations) and writes its requests into the request store's database so that
``GET /builds/<id>`` answers what IIB answered: the same ids, batches, users, images, operators,
annotations, state history with its timestamps, build tags and architectures. New requests then
continue after the highest id (and batch) imported, so ``iib-build:<id>`` never collides with a
tag IIB pushed.

* **Resumable and idempotent**: requests are copied in id order, ``chunk`` requests per
  transaction; a request already imported (same id, type and batch, marked as imported) is
  skipped, so an interrupted import is simply run again. A request of the target with an id of
  the source that was not imported (the service took requests before the import) stops the
  import naming it.
* **Bounded**: the source is another system's data. Types and states must be IIB's numbers,
  strings at most ``MAX_TEXT`` characters, JSON fields (annotations, labels, replacements, omps
  versions) at most ``MAX_JSON`` bytes and JSON objects, a deprecation schema at most
  ``MAX_SCHEMA`` bytes, at most ``MAX_STATES`` states and ``MAX_ITEMS`` list items per request.
  A request that breaks a bound (or has no state, or is IIB's never-used ``generic`` type) is not
  imported; it is reported with the reason and the command exits non-zero.
* The source is only read (a read-only transaction per chunk).

Orders IIB does not define (the bundles of an add, the operators of an rm: relationships without
``ORDER BY``) are taken in the association tables' storage order, i.e. the order IIB inserted them.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from services.common.errors import IIBError
from services.request_store import models as m
from services.request_store.domain import (
    IMAGE_COLUMNS,
    INDEX_IMAGE_COLUMNS,
    SCALAR_COLUMNS,
    ImageList,
    RequestState,
    RequestType,
)

__all__ = ["IIB_SCHEMA_REVISION", "ImportReport", "import_iib"]

log = logging.getLogger(__name__)

#: The head of IIB's Alembic migrations in IIB 9.5.x (691c5d6465a0: multiple FBC fragments).
IIB_SCHEMA_REVISION = "691c5d6465a0"
#: worker_args of an imported request: marks it as imported (idempotency) and gives it no work.
IMPORTED_MARK = {"imported_from_iib": True}
#: The reason given to requests IIB had not finished, with ``--fail-in-progress``.
FAILED_ON_IMPORT = (
    "The request was still in progress in IIB when its database was imported here; resubmit it"
)
MAX_TEXT = 65536
MAX_JSON = 1024 * 1024
MAX_SCHEMA = 16 * 1024 * 1024
MAX_STATES = 10000
MAX_ITEMS = 100000


# IIB's per-type tables and the image columns each holds (the request store's names).
_TYPE_TABLES: dict[RequestType, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    RequestType.ADD: (
        "request_add",
        INDEX_IMAGE_COLUMNS,
        (
            "organization",
            "omps_operator_version",
            "distribution_scope",
            "graph_update_mode",
            "check_related_images",
        ),
    ),
    RequestType.RM: (
        "request_rm",
        INDEX_IMAGE_COLUMNS,
        ("distribution_scope",),
    ),
    RequestType.REGENERATE_BUNDLE: (
        "request_regenerate_bundle",
        ("bundle_image", "from_bundle_image", "from_bundle_image_resolved"),
        ("organization", "bundle_replacements"),
    ),
    RequestType.MERGE_INDEX_IMAGE: (
        "request_merge_index_image",
        (
            "binary_image",
            "binary_image_resolved",
            "index_image",
            "source_from_index",
            "source_from_index_resolved",
            "target_index",
            "target_index_resolved",
        ),
        ("distribution_scope", "graph_update_mode", "ignore_bundle_ocp_version"),
    ),
    RequestType.CREATE_EMPTY_INDEX: (
        "request_create_empty_index",
        INDEX_IMAGE_COLUMNS,
        ("labels", "distribution_scope"),
    ),
    RequestType.RECURSIVE_RELATED_BUNDLES: (
        "request_recursive_related_bundles",
        ("parent_bundle_image", "parent_bundle_image_resolved"),
        ("organization",),
    ),
    RequestType.FBC_OPERATIONS: (
        "request_fbc_operations",
        ("fbc_fragment", "fbc_fragment_resolved", *INDEX_IMAGE_COLUMNS),
        ("distribution_scope", "used_fbc_fragment"),
    ),
    RequestType.ADD_DEPRECATIONS: (
        "request_add_deprecations",
        INDEX_IMAGE_COLUMNS,
        ("distribution_scope",),
    ),
}
# JSON text columns: kept verbatim (the request store reads them as IIB does).
_JSON_SCALARS = ("omps_operator_version", "bundle_replacements", "labels")
_BOOL_SCALARS = ("check_related_images", "ignore_bundle_ocp_version", "used_fbc_fragment")
# Ordered image lists: (association table, request column, image column, our list).
_LISTS = (
    ("request_add_bundle", "request_add_id", "image_id", ImageList.BUNDLES),
    ("request_add_bundle_deprecation", "request_add_id", "bundle_id", ImageList.DEPRECATION_LIST),
    (
        "request_merge_bundle_deprecation",
        "merge_index_image_id",
        "bundle_id",
        ImageList.DEPRECATION_LIST,
    ),
    (
        "request_fbc_operations_fragment",
        "request_fbc_operations_id",
        "image_id",
        ImageList.FBC_FRAGMENTS,
    ),
    (
        "request_fbc_operations_fragment_resolved",
        "request_fbc_operations_id",
        "image_id",
        ImageList.FBC_FRAGMENTS_RESOLVED,
    ),
)


class SkipRequest(Exception):
    """A request of the source that cannot be imported as it is (the message says why)."""


@dataclass
class ImportReport:
    """What an import did."""

    total: int = 0
    imported: int = 0
    already_there: int = 0
    skipped: dict[int, str] = field(default_factory=dict)
    in_progress: list[int] = field(default_factory=list)
    highest_id: int = 0
    highest_batch: int = 0
    seconds: float = 0.0


@dataclass
class _Source:
    """One chunk of IIB requests, read in one read-only transaction."""

    requests: dict[int, Any] = field(default_factory=dict)
    states: dict[int, list[Any]] = field(default_factory=dict)
    arches: dict[int, list[str]] = field(default_factory=dict)
    tags: dict[int, list[str]] = field(default_factory=dict)
    rows: dict[int, dict[str, Any]] = field(default_factory=dict)
    lists: dict[int, dict[ImageList, list[int]]] = field(default_factory=dict)
    removed: dict[int, list[str]] = field(default_factory=dict)
    package: dict[int, str] = field(default_factory=dict)
    schema: dict[int, str] = field(default_factory=dict)
    images: dict[int, tuple[str, str | None]] = field(default_factory=dict)
    batches: dict[int, str | None] = field(default_factory=dict)


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise SkipRequest(f"{what} is not a string")
    if len(value) > MAX_TEXT:
        raise SkipRequest(f"{what} is longer than {MAX_TEXT} characters")
    return value


def _opt_text(value: Any, what: str) -> str | None:
    return None if value is None else _text(value, what)


def _json_text(value: Any, what: str, limit: int = MAX_JSON) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value.encode()) > limit:
        raise SkipRequest(f"{what} is not a string of at most {limit} bytes")
    try:
        parsed = json.loads(value)
    except ValueError:
        raise SkipRequest(f"{what} is not JSON") from None
    if not isinstance(parsed, dict):
        raise SkipRequest(f"{what} is not a JSON object")
    return value


class _Importer:
    def __init__(
        self,
        source: Engine,
        target: Engine,
        chunk: int,
        progress: Callable[[ImportReport], None] | None,
        fail_in_progress: bool = False,
    ) -> None:
        self.source = source
        self.target = target
        self.chunk = chunk
        self.progress = progress
        self.fail_in_progress = fail_in_progress
        self._now = datetime.now(UTC).replace(tzinfo=None)
        self.report = ImportReport()
        self._dialect = postgresql if target.dialect.name == "postgresql" else sqlite

    # --- the source --------------------------------------------------------------------------

    def check_source(self) -> None:
        if self.source.dialect.name != "postgresql":
            raise IIBError("IIB's database must be PostgreSQL (--from postgresql://...)")
        with self.source.connect() as conn:
            try:
                revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            except Exception as exc:
                raise IIBError(
                    f"The source is not an IIB database: {exc.__class__.__name__}"
                ) from None
            if revision != IIB_SCHEMA_REVISION:
                raise IIBError(
                    f"The source database is at IIB schema revision {revision!r}; this import "
                    f"reads IIB 9.5's ({IIB_SCHEMA_REVISION}): upgrade IIB first"
                )
            self.report.total = int(
                conn.execute(text("SELECT count(*) FROM request")).scalar() or 0
            )

    def _read(self, ids: list[int]) -> _Source:
        src = _Source()
        params = {"ids": ids}
        with self.source.connect() as conn:
            conn.execute(text("SET TRANSACTION READ ONLY"))
            for row in conn.execute(
                text(
                    "SELECT r.id, r.type, r.batch_id, r.request_state_id, u.username FROM request r "
                    'LEFT JOIN "user" u ON u.id = r.user_id WHERE r.id = ANY(:ids)'
                ),
                params,
            ):
                src.requests[row.id] = row
            for row in conn.execute(
                text(
                    "SELECT id, request_id, state, state_reason, updated FROM request_state "
                    "WHERE request_id = ANY(:ids) ORDER BY request_id, updated, id"
                ),
                params,
            ):
                src.states.setdefault(row.request_id, []).append(row)
            for row in conn.execute(
                text(
                    "SELECT ra.request_id, a.name FROM request_architecture ra "
                    "JOIN architecture a ON a.id = ra.architecture_id WHERE ra.request_id = ANY(:ids)"
                ),
                params,
            ):
                src.arches.setdefault(row.request_id, []).append(row.name)
            for row in conn.execute(
                text(
                    "SELECT rt.request_id, t.name FROM request_build_tag rt "
                    "JOIN build_tag t ON t.id = rt.tag_id WHERE rt.request_id = ANY(:ids)"
                ),
                params,
            ):
                src.tags.setdefault(row.request_id, []).append(row.name)
            for table, _images, _scalars in _TYPE_TABLES.values():
                for typed in conn.execute(
                    text(f"SELECT * FROM {table} WHERE id = ANY(:ids)"), params
                ).mappings():
                    src.rows[typed["id"]] = dict(typed)
            for table, request_col, image_col, kind in _LISTS:
                for row in conn.execute(
                    text(
                        f"SELECT {request_col} AS request_id, {image_col} AS image_id FROM {table} "
                        f"WHERE {request_col} = ANY(:ids) ORDER BY ctid"
                    ),
                    params,
                ):
                    src.lists.setdefault(row.request_id, {}).setdefault(kind, []).append(
                        row.image_id
                    )
            for row in conn.execute(
                text(
                    "SELECT x.request_rm_id AS request_id, o.name FROM request_rm_operator x "
                    "JOIN operator o ON o.id = x.operator_id WHERE x.request_rm_id = ANY(:ids) "
                    "ORDER BY x.ctid"
                ),
                params,
            ):
                src.removed.setdefault(row.request_id, []).append(row.name)
            for row in conn.execute(
                text(
                    "SELECT x.request_add_deprecations_id AS request_id, o.name "
                    "FROM request_add_deprecations_operator x JOIN operator o ON o.id = x.operator_id "
                    "WHERE x.request_add_deprecations_id = ANY(:ids) ORDER BY x.ctid"
                ),
                params,
            ):
                src.package.setdefault(row.request_id, row.name)
            for row in conn.execute(
                text(
                    "SELECT x.request_add_deprecations_id AS request_id, d.schema, "
                    "octet_length(d.schema) AS size FROM request_add_deprecations_deprecation_schema x "
                    "JOIN deprecation_schema d ON d.id = x.deprecation_schema_id "
                    "WHERE x.request_add_deprecations_id = ANY(:ids) ORDER BY x.ctid"
                ),
                params,
            ):
                if row.size > MAX_SCHEMA:
                    src.schema.setdefault(row.request_id, "")  # refused below
                else:
                    src.schema.setdefault(row.request_id, row.schema)
            image_ids: set[int] = set()
            types = {int(t): t for t in _TYPE_TABLES}
            for rid, values in src.rows.items():
                request = src.requests.get(rid)
                if request is None or request.type not in types:
                    continue
                for column in _TYPE_TABLES[types[request.type]][1]:
                    if values.get(f"{column}_id") is not None:
                        image_ids.add(values[f"{column}_id"])
            for lists in src.lists.values():
                for items in lists.values():
                    image_ids.update(items)
            if image_ids:
                for row in conn.execute(
                    text(
                        "SELECT i.id, i.pull_specification, o.name FROM image i "
                        "LEFT JOIN operator o ON o.id = i.operator_id WHERE i.id = ANY(:ids)"
                    ),
                    {"ids": sorted(image_ids)},
                ):
                    src.images[row.id] = (row.pull_specification, row.name)
            batch_ids = sorted({r.batch_id for r in src.requests.values()})
            for row in conn.execute(
                text("SELECT id, annotations FROM batch WHERE id = ANY(:ids)"), {"ids": batch_ids}
            ):
                src.batches[row.id] = row.annotations
        return src

    # --- one request, checked and mapped ------------------------------------------------------

    def _plan(self, src: _Source, rid: int) -> dict[str, Any]:
        request = src.requests[rid]
        if request.type not in {int(t) for t in _TYPE_TABLES}:
            raise SkipRequest(f"its type {request.type!r} is not one of IIB's request types")
        kind = RequestType(request.type)
        states = src.states.get(rid, [])
        if not states:
            raise SkipRequest("it has no state")
        if len(states) > MAX_STATES:
            raise SkipRequest(f"it has more than {MAX_STATES} states")
        for state in states:
            if state.state not in {int(s) for s in RequestState}:
                raise SkipRequest(f"a state {state.state!r} is not one of IIB's states")
            if not isinstance(state.updated, datetime):
                raise SkipRequest("a state has no time")
            _text(state.state_reason, "a state reason")
        current = next((s for s in states if s.id == request.request_state_id), states[-1])
        row = src.rows.get(rid)
        if row is None:
            raise SkipRequest(f"it has no row in IIB's {_TYPE_TABLES[kind][0]} table")
        table, image_columns, scalar_columns = _TYPE_TABLES[kind]
        images: dict[str, str] = {}
        for column in image_columns:
            image_id = row.get(f"{column}_id")
            if image_id is not None:
                images[column] = _text(src.images[image_id][0], column)
        scalars: dict[str, Any] = {}
        for column in scalar_columns:
            value = row.get(column)
            if column in _JSON_SCALARS:
                scalars[column] = _json_text(value, column)
            elif column in _BOOL_SCALARS:
                if value is not None and not isinstance(value, bool):
                    raise SkipRequest(f"{column} is not a boolean")
                scalars[column] = value
            else:
                scalars[column] = _opt_text(value, column)
        lists = {
            k: [_text(src.images[i][0], k.name.lower()) for i in items]
            for k, items in src.lists.get(rid, {}).items()
        }
        removed = [_text(name, "an operator") for name in src.removed.get(rid, [])]
        tags = [_text(t, "a build tag") for t in src.tags.get(rid, [])]
        arches = [_text(a, "an architecture") for a in src.arches.get(rid, [])]
        if any(len(items) > MAX_ITEMS for items in (*lists.values(), removed, tags, arches)):
            raise SkipRequest(f"a list has more than {MAX_ITEMS} items")
        annotations = _json_text(src.batches.get(request.batch_id), "the batch annotations")
        schema = src.schema.get(rid)
        if kind is RequestType.ADD_DEPRECATIONS and (not schema or rid not in src.package):
            raise SkipRequest("its deprecation schema or operator package is missing or too large")
        bundle_operators = {
            src.images[i][0]: src.images[i][1]
            for i in src.lists.get(rid, {}).get(ImageList.BUNDLES, [])
            if src.images[i][1] is not None
        }
        return {
            "id": rid,
            "type": kind,
            "batch_id": request.batch_id,
            "annotations": annotations,
            "user": _opt_text(request.username, "the user"),
            "states": states,
            "current": current,
            "images": images,
            "scalars": scalars,
            "lists": lists,
            "removed": removed,
            "tags": tags,
            "arches": arches,
            "package": src.package.get(rid),
            "schema": schema,
            "bundle_operators": bundle_operators,
        }

    # --- the target ----------------------------------------------------------------------------

    def _get_or_create(
        self, conn: Connection, table: Any, column: Any, values: Iterable[str]
    ) -> dict[str, int]:
        wanted = sorted(set(values))
        if not wanted:
            return {}
        found: dict[str, int] = {}
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            found.update(
                (r[1], r[0])
                for r in conn.execute(select(table.c.id, column).where(column.in_(part)))
            )
        missing = [v for v in wanted if v not in found]
        if missing:
            stmt = self._dialect.insert(table).on_conflict_do_nothing(index_elements=[column.name])
            conn.execute(stmt, [{column.name: v} for v in missing])
            for start in range(0, len(missing), 500):
                part = missing[start : start + 500]
                found.update(
                    (r[1], r[0])
                    for r in conn.execute(select(table.c.id, column).where(column.in_(part)))
                )
        return found

    def _write(self, conn: Connection, plans: Sequence[dict[str, Any]]) -> None:
        import hashlib

        batches = {p["batch_id"]: p["annotations"] for p in plans}
        known = {
            r[0] for r in conn.execute(select(m.BATCH.c.id).where(m.BATCH.c.id.in_(list(batches))))
        }
        new_batches = [{"id": b, "annotations": a} for b, a in batches.items() if b not in known]
        if new_batches:
            conn.execute(insert(m.BATCH), new_batches)
        users = self._get_or_create(
            conn, m.USER, m.USER.c.username, [p["user"] for p in plans if p["user"]]
        )
        operators = self._get_or_create(
            conn,
            m.OPERATOR,
            m.OPERATOR.c.name,
            [
                *(o for p in plans for o in p["removed"]),
                *(p["package"] for p in plans if p["package"]),
                *(o for p in plans for o in p["bundle_operators"].values()),
            ],
        )
        specs = [s for p in plans for s in p["images"].values()] + [
            s for p in plans for items in p["lists"].values() for s in items
        ]
        images = self._get_or_create(conn, m.IMAGE, m.IMAGE.c.pull_specification, specs)
        links = {
            images[spec]: operators[op] for p in plans for spec, op in p["bundle_operators"].items()
        }
        for image_id, operator_id in links.items():
            conn.execute(
                update(m.IMAGE)
                .where(m.IMAGE.c.id == image_id, m.IMAGE.c.operator_id.is_(None))
                .values(operator_id=operator_id)
            )
        request_rows: list[dict[str, Any]] = []
        state_rows: list[dict[str, Any]] = []
        image_rows: list[dict[str, Any]] = []
        arch_rows: list[dict[str, Any]] = []
        tag_rows: list[dict[str, Any]] = []
        operator_rows: list[dict[str, Any]] = []
        for p in plans:
            current = p["current"]
            row: dict[str, Any] = {
                "id": p["id"],
                "type": int(p["type"]),
                "batch_id": p["batch_id"],
                "user_id": users.get(p["user"]) if p["user"] else None,
                "state": int(current.state),
                "state_reason": current.state_reason,
                "updated": current.updated,
                "created": p["states"][0].updated,
                "queue": None,
                "serial": False,
                "serial_key": None,
                "worker_args": json.dumps(IMPORTED_MARK),
                "lease_token": 0,
            }
            for column in SCALAR_COLUMNS:
                row[column] = p["scalars"].get(column)
            for column in IMAGE_COLUMNS:
                spec = p["images"].get(column)
                row[f"{column}_id"] = images[spec] if spec is not None else None
            row["operator_package_id"] = operators[p["package"]] if p["package"] else None
            if p["schema"]:
                digest = hashlib.sha256(p["schema"].encode()).hexdigest()
                stmt = self._dialect.insert(m.DEPRECATION_SCHEMA).on_conflict_do_nothing(
                    index_elements=["sha256"]
                )
                conn.execute(stmt, {"sha256": digest, "schema": p["schema"]})
                row["deprecation_schema_id"] = conn.execute(
                    select(m.DEPRECATION_SCHEMA.c.id).where(m.DEPRECATION_SCHEMA.c.sha256 == digest)
                ).scalar_one()
            else:
                row["deprecation_schema_id"] = None
            request_rows.append(row)
            # in time order, so the state ids (history order) follow IIB's order_by "updated"
            state_rows.extend(
                {
                    "request_id": p["id"],
                    "state": int(s.state),
                    "state_reason": s.state_reason,
                    "updated": s.updated,
                }
                for s in p["states"]
            )
            if self.fail_in_progress and current.state == RequestState.IN_PROGRESS:
                row.update(
                    state=int(RequestState.FAILED), state_reason=FAILED_ON_IMPORT, updated=self._now
                )
                state_rows.append(
                    {
                        "request_id": p["id"],
                        "state": int(RequestState.FAILED),
                        "state_reason": FAILED_ON_IMPORT,
                        "updated": self._now,
                    }
                )
            for kind, items in p["lists"].items():
                image_rows.extend(
                    {"request_id": p["id"], "kind": int(kind), "position": n, "image_id": images[s]}
                    for n, s in enumerate(items)
                )
            arch_rows.extend({"request_id": p["id"], "name": a} for a in dict.fromkeys(p["arches"]))
            tag_rows.extend({"request_id": p["id"], "name": t} for t in dict.fromkeys(p["tags"]))
            operator_rows.extend(
                {"request_id": p["id"], "position": n, "operator_id": operators[o]}
                for n, o in enumerate(p["removed"])
            )
        conn.execute(insert(m.REQUEST), request_rows)
        for table, rows in (
            (m.REQUEST_STATE, state_rows),
            (m.REQUEST_IMAGE, image_rows),
            (m.REQUEST_ARCHITECTURE, arch_rows),
            (m.REQUEST_BUILD_TAG, tag_rows),
            (m.REQUEST_OPERATOR, operator_rows),
        ):
            if rows:
                conn.execute(insert(table), rows)

    def _already_there(self, conn: Connection, src: _Source) -> set[int]:
        """Ids of the chunk the target holds: imported before (skipped) or a collision."""
        r = m.REQUEST
        present = set()
        for row in conn.execute(
            select(r.c.id, r.c.type, r.c.batch_id, r.c.worker_args).where(
                r.c.id.in_(list(src.requests))
            )
        ):
            source = src.requests[row.id]
            imported = json.loads(row.worker_args or "{}").get("imported_from_iib") is True
            if not imported or row.type != source.type or row.batch_id != source.batch_id:
                raise IIBError(
                    f"The request store already holds a request {row.id} that is not IIB's "
                    f"request {row.id}: import into a database that took no requests yet"
                )
            present.add(row.id)
        return present

    # --- the whole run -------------------------------------------------------------------------

    def run(self) -> ImportReport:
        started = time.monotonic()
        self.check_source()
        after = 0
        while True:
            with self.source.connect() as conn:
                ids = [
                    int(r[0])
                    for r in conn.execute(
                        text("SELECT id FROM request WHERE id > :after ORDER BY id LIMIT :n"),
                        {"after": after, "n": self.chunk},
                    )
                ]
            if not ids:
                break
            after = ids[-1]
            src = self._read(ids)
            with self.target.begin() as conn:
                present = self._already_there(conn, src)
                plans = []
                for rid in ids:
                    if rid in present:
                        self.report.already_there += 1
                        continue
                    try:
                        plan = self._plan(src, rid)
                    except SkipRequest as exc:
                        self.report.skipped[rid] = str(exc)
                        log.error("IIB request %s is not imported: %s", rid, exc)
                        continue
                    plans.append(plan)
                if plans:
                    self._write(conn, plans)
            self.report.imported += len(plans)
            self.report.in_progress.extend(
                p["id"] for p in plans if p["current"].state == RequestState.IN_PROGRESS
            )
            self.report.seconds = time.monotonic() - started
            if self.progress is not None:
                self.progress(self.report)
        self._continue_ids()
        self.report.seconds = time.monotonic() - started
        return self.report

    def _continue_ids(self) -> None:
        """New requests and batches get ids after the highest imported ones."""
        with self.target.begin() as conn:
            self.report.highest_id = int(
                conn.execute(
                    select(m.REQUEST.c.id).order_by(m.REQUEST.c.id.desc()).limit(1)
                ).scalar()
                or 0
            )
            self.report.highest_batch = int(
                conn.execute(select(m.BATCH.c.id).order_by(m.BATCH.c.id.desc()).limit(1)).scalar()
                or 0
            )
            if self.target.dialect.name == "postgresql":
                for table in ("request", "batch"):
                    conn.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                            f"GREATEST((SELECT max(id) FROM {table}), 1))"
                        )
                    )
            # SQLite gives a new row max(id) + 1 by itself


def import_iib(
    source_url: str,
    target: Engine,
    *,
    chunk: int = 500,
    progress: Callable[[ImportReport], None] | None = None,
    statement_timeout: float = 300.0,
    fail_in_progress: bool = False,
) -> ImportReport:
    """Copy every request of the IIB database at ``source_url`` into ``target`` (migrated to
    the newest schema already); see the module docstring. ``fail_in_progress``: requests IIB
    had not finished are imported failed (a last state, ``FAILED_ON_IMPORT``), not in progress."""
    if not source_url.startswith(("postgresql://", "postgresql+psycopg2://", "postgres://")):
        raise IIBError("IIB's database must be PostgreSQL (--from postgresql://...)")
    if source_url.startswith("postgres://"):
        source_url = "postgresql://" + source_url[len("postgres://") :]
    source = create_engine(
        source_url,
        pool_size=1,
        connect_args={
            "connect_timeout": 10,
            "options": f"-c statement_timeout={int(statement_timeout * 1000)}",
        },
    )
    try:
        return _Importer(source, target, chunk, progress, fail_in_progress).run()
    finally:
        source.dispose()
