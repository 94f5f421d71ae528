"""IIB's JSON representation of requests and of the list envelope (contract §3 and §4). No I/O.

The store assembles a :class:`RequestView` (plain data) and these functions turn it into the
exact dict IIB returns; :func:`dumps` produces Flask's bytes (sorted keys, compact, ASCII,
trailing newline).
"""

from __future__ import annotations

import json
import math
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from services.request_store.domain import ImageList, RequestState, RequestType

__all__ = ["RenderContext", "RequestView", "Route", "dumps", "list_envelope", "request_json"]


@dataclass(frozen=True)
class RenderContext:
    """What rendering needs besides the request: absolute URL base and artifact settings."""

    base_url: str
    logs_configured: bool
    related_bundles_configured: bool
    days_to_live: int


@dataclass(frozen=True)
class Route:
    """Where a request's work item goes: its queue and, for serial requests, the index whose
    requests are built one after the other."""

    queue: str | None
    serial: bool
    serial_key: str | None


@dataclass
class RequestView:
    """A stored request, flattened for rendering."""

    id: int
    type: RequestType
    batch_id: int
    user: str | None
    state: RequestState
    state_reason: str
    updated: datetime
    arches: list[str] = field(default_factory=list)
    build_tags: list[str] = field(default_factory=list)
    images: dict[str, str] = field(default_factory=dict)
    scalars: dict[str, Any] = field(default_factory=dict)
    image_lists: dict[ImageList, list[str]] = field(default_factory=dict)
    bundle_operators: dict[str, str] = field(default_factory=dict)
    operators: list[str] = field(default_factory=list)
    operator_package: str | None = None
    # verbose only
    history: list[tuple[RequestState, str, datetime]] = field(default_factory=list)
    batch_annotations: dict[str, Any] | None = None
    #: the store's own: not rendered (the outbox planner reads them)
    route: Route | None = None
    last_state_id: int | None = None  # verbose only: the newest state history entry's id


def iso(dt: datetime) -> str:
    """IIB's timestamp format: naive UTC ``isoformat()`` plus ``Z``."""
    return dt.isoformat() + "Z"


def dumps(obj: Any) -> bytes:
    """Serialize like Flask's ``jsonify`` in production: sorted keys, compact, ASCII, newline."""
    return (json.dumps(obj, sort_keys=True, separators=(",", ":")) + "\n").encode()


def _artifact(view: RequestView, ctx: RenderContext, path: str) -> dict[str, str]:
    expiration = view.updated + timedelta(days=ctx.days_to_live)
    return {
        "expiration": iso(expiration),
        "url": f"{ctx.base_url}/api/v1/builds/{view.id}/{path}",
    }


def _base(view: RequestView, verbose: bool, ctx: RenderContext) -> dict[str, Any]:
    rv: dict[str, Any] = {
        "id": view.id,
        "arches": list(view.arches),
        "batch": view.batch_id,
        "request_type": view.type.api_name,
        "user": view.user,
        "state": view.state.api_name,
        "state_reason": view.state_reason,
        "updated": iso(view.updated),
    }
    if verbose:
        rv["batch_annotations"] = view.batch_annotations
        rv["state_history"] = [
            {"state": state.api_name, "state_reason": reason, "updated": iso(updated)}
            for state, reason, updated in view.history
        ]
        if ctx.logs_configured:
            rv["logs"] = _artifact(view, ctx, "logs")
    return rv


def _index_common(view: RequestView) -> dict[str, Any]:
    img = view.images.get
    return {
        "binary_image": img("binary_image"),
        "binary_image_resolved": img("binary_image_resolved"),
        "bundle_mapping": {},
        "bundles": [],
        "deprecation_list": [],
        "from_index": img("from_index"),
        "from_index_resolved": img("from_index_resolved"),
        "index_image": img("index_image"),
        "index_image_resolved": img("index_image_resolved"),
        "internal_index_image_copy": img("internal_index_image_copy"),
        "internal_index_image_copy_resolved": img("internal_index_image_copy_resolved"),
        "organization": None,
        "removed_operators": [],
        "distribution_scope": view.scalars.get("distribution_scope"),
        "build_tags": list(view.build_tags),
    }


def _drop(rv: dict[str, Any], *keys: str) -> None:
    for key in keys:
        rv.pop(key)


def request_json(view: RequestView, verbose: bool, ctx: RenderContext) -> dict[str, Any]:
    """The JSON object IIB returns for one request (verbose or list-item form)."""
    rv = _base(view, verbose, ctx)
    img = view.images.get
    sc = view.scalars.get
    t = view.type
    if t in (
        RequestType.ADD,
        RequestType.RM,
        RequestType.CREATE_EMPTY_INDEX,
        RequestType.FBC_OPERATIONS,
        RequestType.ADD_DEPRECATIONS,
    ):
        rv.update(_index_common(view))
    if t is RequestType.ADD:
        bundles = view.image_lists.get(ImageList.BUNDLES, [])
        mapping: dict[str, list[str]] = {}
        for bundle in bundles:
            operator = view.bundle_operators.get(bundle)
            if operator:
                mapping.setdefault(operator, []).append(bundle)
        omps = sc("omps_operator_version")
        rv.update(
            organization=sc("organization"),
            omps_operator_version=json.loads(omps) if omps else {},
            graph_update_mode=sc("graph_update_mode"),
            check_related_images=sc("check_related_images"),
            bundle_mapping=mapping,
            bundles=list(bundles),
            deprecation_list=list(view.image_lists.get(ImageList.DEPRECATION_LIST, [])),
        )
    elif t is RequestType.RM:
        rv["removed_operators"] = list(view.operators)
    elif t is RequestType.REGENERATE_BUNDLE:
        replacements = sc("bundle_replacements")
        rv.update(
            bundle_image=img("bundle_image"),
            from_bundle_image=img("from_bundle_image"),
            from_bundle_image_resolved=img("from_bundle_image_resolved"),
            organization=sc("organization"),
            bundle_replacements=json.loads(replacements) if replacements else {},
        )
        if ctx.related_bundles_configured:
            rv["related_bundles"] = _artifact(view, ctx, "related_bundles")
    elif t is RequestType.MERGE_INDEX_IMAGE:
        rv.update(
            binary_image=img("binary_image"),
            binary_image_resolved=img("binary_image_resolved"),
            deprecation_list=list(view.image_lists.get(ImageList.DEPRECATION_LIST, [])),
            graph_update_mode=sc("graph_update_mode"),
            ignore_bundle_ocp_version=sc("ignore_bundle_ocp_version"),
            index_image=img("index_image"),
            source_from_index=img("source_from_index"),
            source_from_index_resolved=img("source_from_index_resolved"),
            target_index=img("target_index"),
            target_index_resolved=img("target_index_resolved"),
            distribution_scope=sc("distribution_scope"),
            build_tags=list(view.build_tags),
        )
    elif t is RequestType.CREATE_EMPTY_INDEX:
        _drop(
            rv,
            "bundles",
            "bundle_mapping",
            "organization",
            "deprecation_list",
            "removed_operators",
            "build_tags",
            "internal_index_image_copy",
            "internal_index_image_copy_resolved",
        )
        labels = sc("labels")
        rv["labels"] = json.loads(labels) if labels else None
    elif t is RequestType.RECURSIVE_RELATED_BUNDLES:
        rv.update(
            parent_bundle_image=img("parent_bundle_image"),
            parent_bundle_image_resolved=img("parent_bundle_image_resolved"),
            organization=sc("organization"),
            nested_bundles=_artifact(view, ctx, "nested-bundles"),
        )
    elif t is RequestType.FBC_OPERATIONS:
        fragments = view.image_lists.get(ImageList.FBC_FRAGMENTS, [])
        resolved = view.image_lists.get(ImageList.FBC_FRAGMENTS_RESOLVED, [])
        if sc("used_fbc_fragment") or img("fbc_fragment"):
            rv["fbc_fragment"] = img("fbc_fragment") or (fragments[0] if fragments else None)
            rv["fbc_fragment_resolved"] = img("fbc_fragment_resolved") or (
                resolved[0] if resolved else None
            )
            rv["fbc_fragments"] = []
            rv["fbc_fragments_resolved"] = []
        else:
            rv["fbc_fragments"] = list(fragments)
            rv["fbc_fragments_resolved"] = list(resolved)
            rv["fbc_fragment"] = None
            rv["fbc_fragment_resolved"] = None
        _drop(
            rv, "bundles", "bundle_mapping", "deprecation_list", "organization", "removed_operators"
        )
    elif t is RequestType.ADD_DEPRECATIONS:
        rv["operator_package"] = view.operator_package
        rv["deprecation_schema_url"] = f"{ctx.base_url}/api/v1/builds/{view.id}/deprecation-schema"
        _drop(
            rv,
            "bundles",
            "bundle_mapping",
            "deprecation_list",
            "distribution_scope",
            "organization",
            "removed_operators",
        )
    return rv


# Filters carried into the pagination links, in IIB's fixed order.
LIST_FILTER_ORDER = (
    "state",
    "batch",
    "request_type",
    "user",
    "from_index",
    "from_index_startswith",
    "index_image",
)


def _list_url(base_url: str, page: int, per_page: int, filters: dict[str, str]) -> str:
    query = [("page", str(page)), ("per_page", str(per_page))]
    query += [(k, filters[k]) for k in LIST_FILTER_ORDER if k in filters]
    # Werkzeug's url_for encoding: quote_plus with these characters left as they are.
    return f"{base_url}/api/v1/builds?" + urllib.parse.urlencode(query, safe="!$'()*,/:;?@")


def list_envelope(
    items: list[dict[str, Any]],
    *,
    page: int,
    per_page: int,
    total: int,
    filters: dict[str, str],
    base_url: str,
) -> dict[str, Any]:
    """The ``{"items": [...], "meta": {...}}`` envelope of ``GET /builds`` (contract §4)."""
    pages = math.ceil(total / per_page) if total else 0
    return {
        "items": items,
        "meta": {
            "first": _list_url(base_url, 1, per_page, filters),
            "last": _list_url(base_url, pages, per_page, filters),
            "next": _list_url(base_url, page + 1, per_page, filters) if page < pages else None,
            "page": page,
            "pages": pages,
            "per_page": per_page,
            "previous": _list_url(base_url, page - 1, per_page, filters) if page > 1 else None,
            "total": total,
        },
    }
