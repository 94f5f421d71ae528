"""Conversions between the typed API (``iib.builds.v1``) and the request store's domain. No I/O.

A :class:`~services.request_store.serialize.RequestView` becomes a ``Build`` through IIB's own
JSON (:func:`~services.request_store.serialize.request_json`), so the typed API shows exactly
what the REST API shows; a typed submission becomes the JSON body the REST API would receive
(:func:`submission_payload`), so both go through the same validation.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime
from typing import Any

from google.protobuf import json_format

from services.common.errors import ValidationError
from services.common.pb.iib.builds.v1 import build_service_pb2 as pb
from services.request_store.domain import RequestState, RequestType
from services.request_store.serialize import RenderContext, RequestView, request_json

__all__ = [
    "CREATE_METHODS",
    "PARAMETER_FIELDS",
    "build_message",
    "catalog_diff_message",
    "decode_page_token",
    "encode_page_token",
    "parse_name",
    "steps_of",
    "submission_payload",
]

#: Create method -> (REST endpoint, the request's parameters field).
CREATE_METHODS: dict[str, tuple[str, str]] = {
    "CreateAddBuild": ("add", "add"),
    "CreateRmBuild": ("rm", "rm"),
    "CreateRegenerateBundleBuild": ("regenerate-bundle", "regenerate_bundle"),
    "CreateMergeIndexImageBuild": ("merge-index-image", "merge_index_image"),
    "CreateCreateEmptyIndexBuild": ("create-empty-index", "create_empty_index"),
    "CreateRecursiveRelatedBundlesBuild": (
        "recursive-related-bundles",
        "recursive_related_bundles",
    ),
    "CreateFbcOperationsBuild": ("fbc-operations", "fbc_operations"),
    "CreateAddDeprecationsBuild": ("add-deprecations", "add_deprecations"),
}
#: Request type -> the ``Build.parameters`` field holding its parameters.
PARAMETER_FIELDS: dict[RequestType, str] = {
    RequestType.ADD: "add",
    RequestType.RM: "rm",
    RequestType.REGENERATE_BUNDLE: "regenerate_bundle",
    RequestType.MERGE_INDEX_IMAGE: "merge_index_image",
    RequestType.CREATE_EMPTY_INDEX: "create_empty_index",
    RequestType.RECURSIVE_RELATED_BUNDLES: "recursive_related_bundles",
    RequestType.FBC_OPERATIONS: "fbc_operations",
    RequestType.ADD_DEPRECATIONS: "add_deprecations",
}
_INPUT_ONLY = 4  # google.api.FieldBehavior.INPUT_ONLY


def parse_name(name: str, suffix: str = "") -> int:
    """The id of ``builds/<id>`` (``builds/<id>/<suffix>``); INVALID_ARGUMENT otherwise."""
    parts = name.split("/")
    expected = 3 if suffix else 2
    if (
        len(parts) != expected
        or parts[0] != "builds"
        or (suffix and parts[2] != suffix)
        or not parts[1].isascii()
        or not parts[1].isdigit()
        or len(parts[1]) > 18
    ):
        shape = f"builds/<id>/{suffix}" if suffix else "builds/<id>"
        raise ValidationError(f"The name {name!r} is not of the form {shape}")
    return int(parts[1])


def submission_payload(parameters: Any) -> dict[str, Any]:
    """The REST body equivalent to typed parameters: the fields that are set, under IIB's names
    (unset optional fields, empty lists and false booleans are left out, as a client of the
    REST API would leave them out)."""
    payload: dict[str, Any] = json_format.MessageToDict(
        parameters, preserving_proto_field_name=True
    )
    return payload


def _timestamp(dt: datetime) -> Any:
    from google.protobuf import timestamp_pb2

    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(dt)
    return stamp


def _is_input_only(field: Any) -> bool:
    from google.api import field_behavior_pb2

    behaviors = field.GetOptions().Extensions[field_behavior_pb2.field_behavior]
    return _INPUT_ONLY in behaviors


def _fill(message: Any, values: dict[str, Any]) -> None:
    """Set the fields of ``message`` that IIB's JSON ``values`` holds (nulls and input-only
    fields skipped)."""
    for field in message.DESCRIPTOR.fields:
        value = values.get(field.name)
        if value is None or _is_input_only(field):
            continue
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            scalar_values = field.message_type.fields_by_name["value"].message_type is None
            if isinstance(value, dict) and scalar_values:
                getattr(message, field.name).update({str(k): str(v) for k, v in value.items()})
        elif field.is_repeated:
            if isinstance(value, list):
                getattr(message, field.name).extend(str(v) for v in value)
        elif field.type == field.TYPE_BOOL:
            setattr(message, field.name, bool(value))
        elif field.type == field.TYPE_STRING:
            setattr(message, field.name, str(value))


def _results(rest: dict[str, Any], related: list[str] | None, nested: Any) -> Any:
    results = pb.BuildResults()
    _fill(results, rest)
    results.ClearField("bundle_mapping")
    for package, bundles in (rest.get("bundle_mapping") or {}).items():
        results.bundle_mapping[package].bundles.extend(bundles)
    if not results.fbc_fragments_resolved and rest.get("fbc_fragment_resolved"):
        results.fbc_fragments_resolved.append(rest["fbc_fragment_resolved"])
    if related is not None:
        results.related_bundles.extend(related)
    if nested is not None:
        json_format.ParseDict(nested, results.nested_bundles)
    return results


def build_message(
    view: RequestView,
    render: RenderContext,
    *,
    related_bundles: list[str] | None = None,
    nested_bundles: Any = None,
    steps: Any = None,
) -> Any:
    """The ``Build`` of a stored request (``view`` read verbose, so with its history)."""
    rest = request_json(view, True, render)
    build = pb.Build(
        name=f"builds/{view.id}",
        id=view.id,
        request_type=int(view.type),  # type: ignore[arg-type]
        state=int(view.state),  # type: ignore[arg-type]
        state_reason=view.state_reason,
        user=view.user or "",
        batch=view.batch_id,
    )
    build.update_time.CopyFrom(_timestamp(view.updated))
    if view.batch_annotations is not None:
        json_format.ParseDict(view.batch_annotations, build.batch_annotations)
    history = list(reversed(view.history))  # the store reads it newest first
    for n, (state, reason, when) in enumerate(history):
        change = build.state_history.add(state=int(state), state_reason=reason)
        change.time.CopyFrom(_timestamp(when))
        if n + 1 < len(history):
            change.duration.FromTimedelta(history[n + 1][2] - when)
    if history:
        build.create_time.CopyFrom(_timestamp(history[0][2]))
    field = PARAMETER_FIELDS.get(view.type)
    if field is not None:
        params = getattr(build, field)
        _fill(params, rest)
        if field == "rm":
            params.operators.extend(rest.get("removed_operators") or [])
        if field == "fbc_operations" and not params.fbc_fragments and rest.get("fbc_fragment"):
            params.fbc_fragments.append(rest["fbc_fragment"])
        params.SetInParent()
    build.results.CopyFrom(_results(rest, related_bundles, nested_bundles))
    for step in steps or ():
        entry = build.steps.add(name=str(step.get("name", "")))
        entry.duration.FromNanoseconds(int(float(step.get("seconds", 0)) * 1e9))
    return build


def steps_of(data: bytes | None) -> list[dict[str, Any]]:
    """The steps of a stored steps artifact (empty when absent or unreadable)."""
    if not data:
        return []
    try:
        steps = json.loads(data).get("steps", [])
    except (ValueError, AttributeError):
        return []
    return [s for s in steps if isinstance(s, dict)]


def catalog_diff_message(request_id: int, data: bytes) -> Any:
    """The ``CatalogDiff`` of a stored catalog diff artifact."""
    diff = pb.CatalogDiff()
    json_format.ParseDict(json.loads(data), diff, ignore_unknown_fields=True)
    diff.name = f"builds/{request_id}/catalogDiff"
    return diff


def _filters_digest(filters: dict[str, Any]) -> str:
    canonical = json.dumps(filters, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def encode_page_token(before_id: int, filters: dict[str, Any]) -> str:
    """An opaque token for the page after the build ``before_id`` (newest first)."""
    raw = json.dumps({"b": before_id, "f": _filters_digest(filters)}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str, filters: dict[str, Any]) -> int | None:
    """The build id a page token continues before (None for the first page).

    :raises ValidationError: for a token that is malformed or was made for other filters
    """
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        body = json.loads(base64.urlsafe_b64decode(padded.encode()))
        before = int(body["b"])
        same = body["f"] == _filters_digest(filters)
    except (ValueError, KeyError, TypeError):
        raise ValidationError("The page_token is not valid") from None
    if not same:
        raise ValidationError("The page_token was made for other filters")
    return before


def state_name(state: int) -> str | None:
    """IIB's name of a typed state filter (None for unspecified)."""
    return RequestState(state).api_name if state else None


def type_name(request_type: int) -> str | None:
    """IIB's name of a typed request type filter (None for unspecified)."""
    return RequestType(request_type).api_name if request_type else None
