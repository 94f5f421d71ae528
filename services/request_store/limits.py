"""Size limits of REST bodies and parameters (no I/O).

Everything a client submits ends up in the database, in the request's JSON and in the state
events on NATS (whose payload limit is 1 MiB by default). IIB has no such limits; here a body,
a string field or a list that is too large is refused with 400 naming the field, before any
validation, so an accepted request always fits the events that announce it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from services.common.errors import BAD_REQUEST_TEXT, NotFoundError, ValidationError

__all__ = [
    "MAX_DB_INTEGER",
    "BodyLimits",
    "check_payload",
    "parse_bounded_json",
    "path_id",
]

#: The largest id, page or batch number a query may carry (the database's BIGINT).
MAX_DB_INTEGER = 2**63 - 1
#: Fields whose content is a document of its own, bounded by the body size only.
DOCUMENT_FIELDS = frozenset({"deprecation_schema"})


@dataclass(frozen=True)
class BodyLimits:
    """The limits (``IIB_MAX_REQUEST_BYTES``, ``IIB_MAX_FIELD_LENGTH``, ``IIB_MAX_LIST_ITEMS``)."""

    max_body_bytes: int = 256 * 1024
    max_string: int = 2048
    max_items: int = 1000
    max_depth: int = 16


def parse_bounded_json(data: bytes, limits: BodyLimits) -> Any:
    """The JSON value of ``data`` within the limits (Envoy admits at most 16 MiB): 400 for a
    body that is not JSON (a body nested deeper than Python's recursion limit is malformed
    here, not a crash), for a field over the limits (naming it, :func:`check_payload`), then
    for a body over the size limit."""
    try:
        payload = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ValidationError(BAD_REQUEST_TEXT) from None
    check_payload(payload, limits)
    if len(data) > limits.max_body_bytes:
        raise ValidationError(
            f"The request body is too large: {len(data)} bytes (at most {limits.max_body_bytes})"
        )
    return payload


def check_payload(payload: Any, limits: BodyLimits) -> None:
    """400 naming the top-level field whose strings, lists or nesting exceed the limits."""
    if not isinstance(payload, dict | list):
        return
    roots: list[tuple[str, Any]] = (
        [(str(k), v) for k, v in payload.items()]
        if isinstance(payload, dict)
        else [("requests", payload)]
    )
    for field, value in roots:
        stack: list[tuple[Any, int]] = [(value, 1)]
        while stack:
            node, depth = stack.pop()
            if depth > limits.max_depth:
                raise ValidationError(f'"{field}" is nested too deeply')
            if isinstance(node, str):
                if field not in DOCUMENT_FIELDS and len(node) > limits.max_string:
                    raise ValidationError(
                        f'"{field}" must be at most {limits.max_string} characters'
                    )
            elif isinstance(node, list):
                if len(node) > limits.max_items:
                    raise ValidationError(f'"{field}" must have at most {limits.max_items} items')
                stack.extend((item, depth + 1) for item in node)
            elif isinstance(node, dict):
                if len(node) > limits.max_items:
                    raise ValidationError(f'"{field}" must have at most {limits.max_items} keys')
                for key, item in node.items():
                    if len(key) > limits.max_string:
                        raise ValidationError(
                            f'"{field}" must have keys of at most {limits.max_string} characters'
                        )
                    stack.append((item, depth + 1))


def path_id(value: int) -> int:
    """A request id from a URL: one the database cannot hold cannot exist (404)."""
    if value > MAX_DB_INTEGER:
        raise NotFoundError()
    return value
