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
    "check_yaml",
    "check_yaml_files",
    "decode_stream",
    "iter_json_documents",
    "iter_yaml_documents",
    "loads_bounded",
    "read_bounded",
    "too_many_json_values",
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


def json_values(text: str | bytes) -> int:
    """An over-estimate of the values in JSON text: its commas and opening brackets."""
    if isinstance(text, bytes):
        return text.count(b",") + text.count(b"{") + text.count(b"[")
    return text.count(",") + text.count("{") + text.count("[")


def too_many_json_values(text: str | bytes) -> bool:
    """``json_values(text) > limits.MAX_JSON_VALUES``, without counting a text too short to
    exceed it (each counted character is one character of the text): a catalog parses every
    package file three times in a cold build, and counting was ~7 % of it."""
    return len(text) > limits.MAX_JSON_VALUES and json_values(text) > limits.MAX_JSON_VALUES


def loads_bounded(text: str | bytes) -> Any:
    """``json.loads`` for JSON found inside untrusted documents (annotations, bundle objects,
    index.db columns): at most ``limits.MAX_JSON_VALUES`` values, nesting within the
    interpreter's recursion limit. Every refusal is a ``ValueError``, like invalid JSON."""
    if too_many_json_values(text):
        raise ValueError(f"more than {limits.MAX_JSON_VALUES} JSON values")
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def iter_json_documents(text: str, *, name: str) -> Iterator[Any]:
    """Yield each value of a stream of concatenated JSON values (at most
    ``limits.MAX_JSON_VALUES`` values in the stream, counted from its commas and brackets)."""
    if too_many_json_values(text):
        raise CatalogError(f"{name}: more than {limits.MAX_JSON_VALUES} JSON values (refused)")
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


def check_yaml(
    text: str,
    *,
    name: str,
    max_nodes: int | None = None,
    max_expanded_nodes: int | None = None,
    expansion_ratio: int | None = None,
    max_depth: int | None = None,
    syntax_errors: bool = True,
) -> None:
    """Refuse a YAML stream any document of which is too big, too deep or a "YAML bomb".

    Runs over libyaml's event stream (no recursion, nothing built), so it is safe on any
    input; run it before a loader builds nodes (libyaml's composer recurses in C and crashes
    the process on deep nesting; node trees take hundreds of bytes a node). Per document:
    at most ``max_nodes`` nodes as written; nesting at most ``max_depth`` levels, counted
    through aliases; at most ``max_expanded_nodes`` nodes once aliases are followed unless that
    is within ``expansion_ratio`` times the document's own size. Recursive or undefined aliases
    are refused. ``syntax_errors=False`` stops quietly at a syntax error, for a caller whose
    loader is libyaml too (it stops at the same place and reports it in its own words).
    Unset limits are the :mod:`.limits` module's values at the time of the call.
    """
    max_nodes = limits.MAX_YAML_NODES if max_nodes is None else max_nodes
    if max_expanded_nodes is None:
        max_expanded_nodes = limits.MAX_YAML_EXPANDED_NODES
    if expansion_ratio is None:
        expansion_ratio = limits.MAX_YAML_EXPANSION_RATIO
    max_depth = limits.MAX_NESTING_DEPTH if max_depth is None else max_depth
    anchors: dict[str, tuple[int, int]] = {}  # anchor -> (expanded size, height)
    stack: list[list[Any]] = []  # [expanded size, anchor, height of the children]
    expanded = 0
    raw = 0
    document = 0

    def too_deep() -> CatalogError:
        return CatalogError(
            f"{name}: YAML document {document} is nested deeper than {max_depth} levels"
        )

    try:
        for event in yaml.parse(text, Loader=_BaseLoader):
            if isinstance(event, yaml.DocumentStartEvent):
                document += 1
                anchors.clear()
                expanded = raw = 0
                continue
            if isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                size, anchor, height = stack.pop()
                if anchor:
                    anchors[anchor] = (size, height + 1)
                if stack:
                    stack[-1][0] += size
                    stack[-1][2] = max(stack[-1][2], height + 1)
                continue
            if not isinstance(
                event,
                (
                    yaml.AliasEvent,
                    yaml.ScalarEvent,
                    yaml.SequenceStartEvent,
                    yaml.MappingStartEvent,
                ),
            ):
                continue
            raw += 1
            if raw > max_nodes:
                raise CatalogError(
                    f"{name}: YAML document {document} has more than {max_nodes} nodes"
                )
            if isinstance(event, yaml.AliasEvent):
                known = anchors.get(event.anchor or "")
                if known is None:
                    raise CatalogError(
                        f"{name}: YAML document {document} uses alias *{event.anchor} before "
                        "its anchor is complete (undefined or recursive alias)"
                    )
                size, height = known
                if len(stack) + height > max_depth:
                    raise too_deep()
                if stack:
                    stack[-1][2] = max(stack[-1][2], height)
            elif isinstance(event, yaml.ScalarEvent):
                size = 1
                if event.anchor:
                    anchors[event.anchor] = (1, 0)
            else:
                if len(stack) >= max_depth:
                    raise too_deep()
                stack.append([1, event.anchor, 0])
                expanded += 1
                continue
            expanded += size
            if stack:
                stack[-1][0] += size
            if expanded > max_expanded_nodes and expanded > expansion_ratio * raw:
                raise CatalogError(
                    f"{name}: YAML document {document} expands to more than "
                    f"{max_expanded_nodes} nodes through aliases (refused as a possible YAML bomb)"
                )
    except yaml.YAMLError as exc:
        if syntax_errors:
            raise CatalogError(f"{name}: invalid YAML: {exc}") from None


def check_yaml_files(
    directory: Path,
    *,
    max_file_bytes: int | None = None,
    max_nodes: int | None = None,
    syntax_errors: bool = True,
) -> None:
    """Check every ``*.yaml``/``*.yml`` file under ``directory`` (the files operator-manifest
    reads) before a round-trip (ruamel.yaml) parser sees them: size, depth, and nodes counted
    after alias expansion, at most ``max_nodes`` (ruamel's pure Python parser is slow and
    operator-manifest walks every alias again). Names are relative to ``directory``'s parent.
    ``syntax_errors=False`` leaves syntax errors to the parser that follows (its messages are
    IIB's); what libyaml read up to the error is bounded all the same.
    """
    max_bytes = limits.MAX_FILE_BYTES if max_file_bytes is None else max_file_bytes
    nodes = limits.MAX_ROUND_TRIP_YAML_NODES if max_nodes is None else max_nodes
    base = directory.parent
    for current, _dirs, files in os.walk(directory):
        for file in sorted(files):
            if not file.endswith((".yaml", ".yml")):
                continue
            path = Path(current) / file
            rel = str(path.relative_to(base))
            data = read_bounded(path, max_bytes=max_bytes, label=rel)
            check_yaml(
                data.decode("utf-8", errors="replace"),
                name=rel,
                max_nodes=nodes,
                max_expanded_nodes=nodes,
                expansion_ratio=0,
                syntax_errors=syntax_errors,
            )


def iter_yaml_documents(text: str, *, name: str) -> Iterator[Any]:
    """Yield each non-empty document of a YAML stream (size, depth and aliases bounded by
    :func:`check_yaml` first; timestamps as text)."""
    check_yaml(text, name=name, syntax_errors=False)
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
    if text and not text.endswith("\n"):
        # Kubernetes' YAMLReader reads the stream line by line and ends every line, the last
        # one included, with "\n": a block scalar on a file's unterminated last line keeps it.
        text += "\n"
    return iter_yaml_documents(text, name=name)
