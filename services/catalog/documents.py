"""Bounded decoding of JSON and YAML document streams (Kubernetes ``YAMLOrJSONDecoder`` rules).

A stream whose first non-blank character is ``{`` is read as concatenated JSON objects;
anything else is read as a YAML stream (``---`` separated documents). YAML is loaded with
libyaml's safe loader configured like go-yaml v2 / sigs.k8s.io/yaml, which opm uses:
timestamps stay strings and ``y``/``n`` are booleans. Anchors and aliases are counted before
anything is built, so a "billion laughs" document is refused instead of exhausting memory.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from services.common.errors import CatalogError

from . import limits

__all__ = [
    "decode_stream",
    "iter_json_documents",
    "iter_yaml_documents",
    "read_bounded",
]

_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_STR_TAG = "tag:yaml.org,2002:str"
_BaseLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# go-yaml v2 ``resolve``: a plain scalar is first looked up in this map; one starting with a
# digit or sign is then a Go integer (``strconv.ParseInt``/``ParseUint`` base 0 once "_" are
# dropped: 0x, 0o, 0b and a leading 0 for octal) or else a float matching ``yamlStyleFloat``;
# one starting with "." is a float when it parses. Everything else is a string: no YAML 1.1
# sexagesimal (``12:30``), no ``=`` value tag, timestamps stay text.
_GO_SCALARS: dict[str, tuple[str, Any]] = {
    **{v: (_BOOL_TAG, True) for v in "y Y yes Yes YES true True TRUE on On ON".split()},
    **{v: (_BOOL_TAG, False) for v in "n N no No NO false False FALSE off Off OFF".split()},
    **{v: ("tag:yaml.org,2002:null", None) for v in ("", "~", "null", "Null", "NULL")},
    **{v: (_FLOAT_TAG, math.nan) for v in (".nan", ".NaN", ".NAN")},
    **{v: (_FLOAT_TAG, math.inf) for v in (".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF")},
    **{v: (_FLOAT_TAG, -math.inf) for v in ("-.inf", "-.Inf", "-.INF")},
    "<<": ("tag:yaml.org,2002:merge", "<<"),
}
_GO_INT = re.compile(r"^[-+]?(?:0[xX][0-9a-fA-F]+|0[oO]?[0-7]+|0[bB][01]+|0|[1-9][0-9]*)$")
_GO_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")


def _go_int(text: str) -> int:
    sign, body = (-1, text[1:]) if text[:1] == "-" else (1, text.lstrip("+"))
    if len(body) > 1 and body[0] == "0" and body[1].isdigit():
        return sign * int(body, 8)
    return sign * int(body, 0)


def _go_scalar_tag(value: str) -> str:
    known = _GO_SCALARS.get(value)
    if known is not None:
        return known[0]
    first = value[:1]
    if first == "." and _GO_FLOAT.match(value):
        return _FLOAT_TAG
    if first and first in "+-0123456789":
        plain = value.replace("_", "")
        if _GO_INT.match(plain) and -(2**63) <= _go_int(plain) < 2**64:
            return _INT_TAG
        if _GO_FLOAT.match(plain) and math.isfinite(float(plain)):
            return _FLOAT_TAG
    return _STR_TAG


class _GoYAMLLoader(_BaseLoader):  # type: ignore[misc]
    """Safe loader resolving scalars the way go-yaml v2 does when decoding into ``interface{}``."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and implicit[0]:
            return _go_scalar_tag(value)
        return super().resolve(kind, value, implicit)


def _construct_bool(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> bool:
    value = loader.construct_scalar(node)
    return str(value).lower() in ("y", "yes", "true", "on")


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    return _go_int(str(loader.construct_scalar(node)).replace("_", ""))


def _construct_float(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> float:
    text = str(loader.construct_scalar(node))
    known = _GO_SCALARS.get(text)
    return float(known[1]) if known is not None else float(text.replace("_", ""))


def _construct_timestamp_as_text(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> str:
    return str(loader.construct_scalar(node))


_GoYAMLLoader.add_constructor(_BOOL_TAG, _construct_bool)
_GoYAMLLoader.add_constructor(_INT_TAG, _construct_int)
_GoYAMLLoader.add_constructor(_FLOAT_TAG, _construct_float)
_GoYAMLLoader.add_constructor(_TIMESTAMP_TAG, _construct_timestamp_as_text)

_JSON_WS = re.compile(r"[ \t\n\r]*")
_BLANK = " \t\n\r\f\v\ufeff"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON literal {name}")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def read_bounded(path: Path, *, max_bytes: int = limits.MAX_FILE_BYTES, label: str = "") -> bytes:
    """Read a regular file, refusing files larger than ``max_bytes`` with a clear error."""
    name = label or str(path)
    try:
        size = os.stat(path).st_size
        if size > max_bytes:
            raise CatalogError(
                f"{name}: file is {size} bytes, larger than the {max_bytes}-byte limit"
            )
        with open(path, "rb") as handle:
            # Read what stat reported (+1 to notice growth); read(max_bytes) would allocate
            # the whole limit up front.
            data = handle.read(size + 1)
            if len(data) > size:  # the file grew while being read
                data += handle.read(max_bytes + 1 - len(data))
    except OSError as exc:
        raise CatalogError(f"{name}: cannot read file: {exc.strerror or exc}") from exc
    if len(data) > max_bytes:
        raise CatalogError(f"{name}: file is larger than the {max_bytes}-byte limit")
    return data


def iter_json_documents(text: str, *, name: str) -> Iterator[Any]:
    """Yield each value of a stream of concatenated JSON values."""
    idx = 0
    end = len(text)
    number = 0
    while True:
        match = _JSON_WS.match(text, idx)
        idx = match.end() if match else idx
        if idx >= end:
            return
        number += 1
        try:
            value, idx = _DECODER.raw_decode(text, idx)
        except json.JSONDecodeError as exc:
            raise CatalogError(
                f"{name}: invalid JSON in document {number} at line {exc.lineno} column "
                f"{exc.colno}: {exc.msg}"
            ) from None
        except ValueError as exc:
            raise CatalogError(f"{name}: invalid JSON in document {number}: {exc}") from None
        except RecursionError:
            raise CatalogError(
                f"{name}: document {number} is nested too deeply to be decoded"
            ) from None
        yield value


def _check_yaml_expansion(text: str, *, name: str) -> None:
    """Refuse YAML whose aliases expand beyond the limits, before anything is constructed."""
    anchors: dict[str, int] = {}
    stack: list[list[Any]] = []  # [expanded size, anchor]
    expanded = 0
    raw = 0
    document = 0
    try:
        for event in yaml.parse(text, Loader=_BaseLoader):
            if isinstance(event, yaml.DocumentStartEvent):
                document += 1
                anchors.clear()
                expanded = raw = 0
                continue
            if isinstance(event, yaml.AliasEvent):
                size = anchors.get(event.anchor or "")
                if size is None:
                    raise CatalogError(
                        f"{name}: YAML document {document} uses alias *{event.anchor} before "
                        "its anchor is complete (undefined or recursive alias)"
                    )
            elif isinstance(event, yaml.ScalarEvent):
                size = 1
                raw += 1
                if event.anchor:
                    anchors[event.anchor] = 1
            elif isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                raw += 1
                expanded += 1
                if len(stack) >= limits.MAX_NESTING_DEPTH:
                    raise CatalogError(
                        f"{name}: YAML document {document} is nested deeper than "
                        f"{limits.MAX_NESTING_DEPTH} levels"
                    )
                stack.append([1, event.anchor])
                continue
            elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                size, anchor = stack.pop()
                if anchor:
                    anchors[anchor] = size
                if stack:
                    stack[-1][0] += size
                continue
            else:
                continue
            expanded += size if not isinstance(event, yaml.ScalarEvent) else 1
            if stack:
                stack[-1][0] += size
            if (
                expanded > limits.MAX_YAML_EXPANDED_NODES
                and expanded > limits.MAX_YAML_EXPANSION_RATIO * max(raw, 1)
            ):
                raise CatalogError(
                    f"{name}: YAML document {document} expands to more than "
                    f"{limits.MAX_YAML_EXPANDED_NODES} nodes through aliases (refused as a "
                    "possible YAML bomb)"
                )
    except yaml.YAMLError as exc:
        raise CatalogError(f"{name}: invalid YAML: {exc}") from None


def iter_yaml_documents(text: str, *, name: str) -> Iterator[Any]:
    """Yield each non-empty document of a YAML stream (aliases bounded, timestamps as text)."""
    if "&" in text or "*" in text:
        _check_yaml_expansion(text, name=name)
    number = 0
    try:
        for document in yaml.load_all(text, Loader=_GoYAMLLoader):
            number += 1
            if document is None:
                continue
            yield document
    except yaml.YAMLError as exc:
        raise CatalogError(f"{name}: invalid YAML in document {number + 1}: {exc}") from None
    except RecursionError:
        raise CatalogError(
            f"{name}: YAML document {number + 1} is nested too deeply to be decoded"
        ) from None


def decode_stream(data: bytes, *, name: str) -> Iterator[Any]:
    """Yield the documents of a file's content, JSON or YAML as Kubernetes' decoder decides."""
    text = data.decode("utf-8", errors="replace")
    head = text[:4096].lstrip(_BLANK)
    if head.startswith("{"):
        return iter_json_documents(text, name=name)
    return iter_yaml_documents(text, name=name)
