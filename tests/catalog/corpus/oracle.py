"""An independent reading of a bundle directory, written from opm's rules (the corpus oracle).

This module answers "what would ``opm render`` make of this bundle directory?" without using
anything from ``services.catalog``: it parses YAML itself (PyYAML's safe loader with go-yaml
v2's scalar rules), encodes JSON itself (Go's ``encoding/json`` rules) and derives every field
from operator-registry's code as read at v1.73.0:

* ``pkg/registry/parse.go`` (``bundleParser``): manifests are the non-directory entries of
  ``manifests/`` not starting with ``.``, in name order, first document of each; a file that
  does not decode to an object with a ``kind`` is skipped with a warning; only the first CSV
  is kept; the bundle name is the CSV's ``metadata.name``; every owned CRD must be provided
  (``AllProvidedAPIsInBundle``). In ``metadata/`` the first file (name order) that decodes to
  an ``AnnotationsFile`` with one of its three fields set is the annotations file, and the
  first with a non-empty ``dependencies`` / ``properties`` list is the dependencies /
  properties file. Derived properties: ``olm.package`` (annotations package, CSV version and
  release) first, then the CSV's ``olm.properties`` annotation, then one ``olm.gvk`` per
  provided API; ``propertySet`` removes duplicates by type and raw value bytes.
* ``pkg/registry/bundle.go``: provided APIs = every ``spec.versions[].name`` of each v1 and
  v1beta1 CRD object (plus v1beta1 ``spec.version``) and the CSV's owned
  ``apiservicedefinitions``; required APIs = required CRDs (``plural.group`` split at the
  first dot) and required ``apiservicedefinitions``.
* ``pkg/registry/registry_to_model.go`` (``ObjectsAndPropertiesFromBundle``): ``olm.gvk``
  properties are collected as a set of (group, kind, version); the last ``olm.package`` wins;
  dependencies of type ``olm.gvk`` become ``olm.gvk.required``, of type ``olm.package``
  ``olm.package.required`` (``versionRange`` = the dependency's ``version``), every other
  dependency (``olm.constraint``, ``olm.label``, ...) a property as it is; one
  ``olm.bundle.object`` per object (``json.Marshal``: compact, map keys sorted, ``<>&``
  escaped); all sorted by type and then by the raw value bytes (which differ by source: Go's
  marshalling for built values, sigs.k8s.io/yaml's JSON for YAML metadata files, the original
  text for the CSV annotation and JSON files).
* ``alpha/action/render.go``: relatedImages = ``spec.relatedImages`` (all entries, names
  kept), then the bundle image and the images of the deployments' containers and init
  containers (``install.strategy == "deployment"``) not already listed, sorted by image;
  bundle objects and ``olm.csv.metadata`` moved to the end of the properties.
* ``alpha/action/migrations`` + ``alpha/property`` (``MustBuildCSVMetadata``): the
  ``olm.csv.metadata`` value, the CSV decoded into operator-framework/api ``v1alpha1`` types
  (struct field order, ``omitempty``) - written from ``clusterserviceversion_types.go``.
* ``pkg/sqlite`` loader inputs: replaces (``spec.replaces``), skips (``spec.skips``), skipRange
  (``olm.skipRange``) and substitutesFor (``olm.substitutesFor``) from the CSV; channels and
  default channel from the annotations.

Go details reproduced on purpose: ``encoding/json`` matches struct fields case-insensitively
(the last matching key wins) while ``map`` look-ups (``objmap``) are exact; JSON ``null``
leaves a field at its zero value; CRDs and ``ObjectMeta`` are decoded case-sensitively.
Not reproduced: strict typing of every field of a Deployment or CRD schema (only the fields
read here are type-checked), Go's ``EqualFold`` Unicode special cases.
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
import struct
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "OracleBundle",
    "OracleError",
    "go_marshal",
    "load_first_document",
    "read_bundle",
]

PACKAGE_ANNOTATION = "operators.operatorframework.io.bundle.package.v1"
CHANNELS_ANNOTATION = "operators.operatorframework.io.bundle.channels.v1"
DEFAULT_CHANNEL_ANNOTATION = "operators.operatorframework.io.bundle.channel.default.v1"

_MISSING = object()


class OracleError(Exception):
    """opm would refuse this bundle; the message says why (in opm's words where it has them)."""


class _Undecodable(Exception):
    """A file that Kubernetes' YAMLOrJSONDecoder would not decode (opm skips or fails)."""


# -- YAML with go-yaml v2's scalar resolution --------------------------------------------------

_Base: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_GO_TRUE = {"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"}
_GO_FALSE = {"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"}
_GO_NULL = {"", "~", "null", "Null", "NULL"}
_GO_SPECIAL_FLOATS = {
    ".inf": math.inf,
    ".Inf": math.inf,
    ".INF": math.inf,
    "+.inf": math.inf,
    "+.Inf": math.inf,
    "+.INF": math.inf,
    "-.inf": -math.inf,
    "-.Inf": -math.inf,
    "-.INF": -math.inf,
    ".nan": math.nan,
    ".NaN": math.nan,
    ".NAN": math.nan,
}
# go-yaml v2 resolve.go: yamlStyleFloat, tried on the text with underscores removed.
_GO_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_GO_INT_PREFIXES = (("0x", 16), ("0o", 8), ("0b", 2))
_TAG_STR = "tag:yaml.org,2002:str"
_TAG_INT = "tag:yaml.org,2002:int"
_TAG_FLOAT = "tag:yaml.org,2002:float"
_TAG_BOOL = "tag:yaml.org,2002:bool"
_TAG_NULL = "tag:yaml.org,2002:null"
_TAG_MERGE = "tag:yaml.org,2002:merge"


def _go_parse_int(text: str) -> int | None:
    """go-yaml v2's integer rule: ``strconv.ParseInt(text, 0, 64)``, then ``ParseUint``.

    Base 0 means ``0x``/``0o``/``0b`` prefixes and a leading ``0`` for octal.
    """
    sign = 1
    body = text
    if body[:1] in ("+", "-"):
        sign = -1 if body[0] == "-" else 1
        body = body[1:]
    base = 10
    lowered = body.lower()
    for prefix, prefix_base in _GO_INT_PREFIXES:
        if lowered.startswith(prefix):
            base, lowered = prefix_base, lowered[2:]
            break
    else:
        if len(lowered) > 1 and lowered[0] == "0":
            base, lowered = 8, lowered[1:]
    digits = "0123456789abcdef"[:base]
    if not lowered or any(c not in digits for c in lowered):
        return None
    value = sign * int(lowered, base)
    if not -(2**63) <= value < 2**64:
        return None
    return value


def _go_scalar_tag(value: str) -> str:
    if value in _GO_NULL:
        return _TAG_NULL
    if value in _GO_TRUE or value in _GO_FALSE:
        return _TAG_BOOL
    if value in _GO_SPECIAL_FLOATS:
        return _TAG_FLOAT
    if value == "<<":
        return _TAG_MERGE
    if value[:1] in "+-.0123456789":
        plain = value.replace("_", "")
        if _go_parse_int(plain) is not None:
            return _TAG_INT
        if _GO_FLOAT.match(plain):
            return _TAG_FLOAT
    return _TAG_STR


class _GoYAMLLoader(_Base):  # type: ignore[misc]
    """PyYAML's safe loader, resolving plain scalars as go-yaml v2 does into ``interface{}``."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        if kind is yaml.ScalarNode and implicit[0]:
            return _go_scalar_tag(value)
        return str(super().resolve(kind, value, implicit))


def _construct_int(loader: Any, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node)).replace("_", "")
    value = _go_parse_int(text)
    if value is None:
        raise _Undecodable(f"invalid int {text!r}")
    return value


def _construct_float(loader: Any, node: yaml.ScalarNode) -> float:
    text = str(loader.construct_scalar(node))
    if text in _GO_SPECIAL_FLOATS:
        return _GO_SPECIAL_FLOATS[text]
    return float(text.replace("_", ""))


def _construct_bool(loader: Any, node: yaml.ScalarNode) -> bool:
    return str(loader.construct_scalar(node)) in _GO_TRUE


def _construct_timestamp(loader: Any, node: yaml.ScalarNode) -> str:
    # An explicit !!timestamp: sigs.k8s.io/yaml hands the text on.
    return str(loader.construct_scalar(node))


_GoYAMLLoader.add_constructor(_TAG_INT, _construct_int)
_GoYAMLLoader.add_constructor(_TAG_FLOAT, _construct_float)
_GoYAMLLoader.add_constructor(_TAG_BOOL, _construct_bool)
_GoYAMLLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)


def _go_format_float(value: float) -> str:
    """Go ``encoding/json``'s float64 text: shortest digits, ``'f'`` unless < 1e-6 or >= 1e21."""
    if math.isnan(value) or math.isinf(value):
        raise _Undecodable(f"json: unsupported value: {value}")
    if value == 0:
        return "0" if math.copysign(1, value) > 0 else "-0"
    dec = Decimal(repr(value))
    magnitude = abs(value)
    if magnitude < 1e-6 or magnitude >= 1e21:
        sign, digits, exponent = dec.as_tuple()
        text = "".join(str(d) for d in digits).rstrip("0") or "0"
        exp10 = int(exponent) + len(digits) - 1
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        exp_text = f"{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"
        if exp_text.startswith("-0") and len(exp_text) == 3:
            exp_text = "-" + exp_text[2]
        return ("-" if sign else "") + mantissa + "e" + exp_text
    text = format(dec, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _go_float32_g(value: float) -> str:
    """``strconv.FormatFloat(value, 'g', -1, 32)``: shortest float32 digits, %e below 1e-4 or from 1e6."""
    try:
        single = struct.unpack("<f", struct.pack("<f", value))[0]
    except OverflowError:
        single = math.inf if value > 0 else -math.inf
    if math.isnan(single):
        return ".nan"
    if math.isinf(single):
        return ".inf" if single > 0 else "-.inf"
    if single == 0:
        return "-0" if math.copysign(1, single) < 0 else "0"
    for precision in range(9):
        text = f"{abs(single):.{precision}e}"
        if struct.unpack("<f", struct.pack("<f", float(text)))[0] == abs(single):
            break
    mantissa, exponent_text = text.split("e")
    digits = mantissa.replace(".", "")
    exponent = int(exponent_text)
    sign = "-" if single < 0 else ""
    if exponent < -4 or exponent >= 6:
        head = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{head}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    if exponent < 0:
        return f"{sign}0.{'0' * (-exponent - 1)}{digits}"
    whole = digits[: exponent + 1].ljust(exponent + 1, "0")
    fraction = digits[exponent + 1 :]
    return sign + whole + ("." + fraction if fraction else "")


def _go_key(key: Any) -> str:
    """sigs.k8s.io/yaml's conversion of a YAML map key to a JSON object key."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int) and -(2**63) <= key < 2**63:
        return str(key)
    if isinstance(key, float):
        return _go_float32_g(key)
    raise _Undecodable(f"unsupported map key {key!r}")


def _to_json_model(value: Any) -> Any:
    """A decoded document as Kubernetes' unstructured JSON holds it (the YAML -> JSON -> Go trip).

    Map keys become strings; a float becomes an int when its JSON text is an integer that fits
    int64 (Go prints ``1.0`` as ``1`` and decodes ``1`` as ``int64``); integers beyond int64
    become floats; NaN and infinities cannot be marshalled.
    """
    if isinstance(value, dict):
        return {_go_key(k): _to_json_model(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_json_model(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        if -(2**63) <= value < 2**63:
            return value
        return float(value)
    if isinstance(value, float):
        text = _go_format_float(value)
        if re.fullmatch(r"-?[0-9]+", text) and -(2**63) <= int(text) < 2**63:
            return int(text)
        return value
    raise _Undecodable(f"unsupported value {value!r}")


def _yaml_reader_text(text: str) -> str:
    """The text go-yaml is given after Kubernetes' ``YAMLReader`` has read it line by line.

    ``LineReader.Read`` (k8s.io/apimachinery ``pkg/util/yaml/decoder.go``, v0.36 as opm v1.73.0
    uses it) takes each line with ``bufio.Reader.ReadLine`` and writes it back followed by
    ``"\n"``, whether or not the line had one; ``YAMLReader.Read`` hands the chunk over
    unchanged. So a file whose last line has no newline is decoded as if it had one, and a
    block scalar on that line keeps its ``"\n"`` (opm's ``alpha/declcfg/load_test.go``
    TestLoadFS expects the ``message: |`` on the unterminated last line of its
    ``deprecations.yaml`` to end in ``"\n"``). An empty file stays empty (``ReadLine``
    reports EOF at once and nothing is written).
    """
    if text and not text.endswith("\n"):
        return text + "\n"
    return text


def _decode_stream_first(data: bytes) -> tuple[Any, bool]:
    """The first document of a YAMLOrJSONDecoder stream and whether another one follows."""
    text = data.decode("utf-8", errors="replace")
    stripped = text.lstrip(" \t\r\n")
    if stripped.startswith("{"):
        decoder = json.JSONDecoder()
        try:
            first, end = decoder.raw_decode(stripped)
        except ValueError as exc:
            raise _Undecodable(f"invalid JSON: {exc}") from None
        rest = stripped[end:].lstrip(" \t\r\n")
        return _to_json_model(first), bool(rest)
    loader = _GoYAMLLoader(_yaml_reader_text(text))
    try:
        docs: list[Any] = []
        while loader.check_data() and len(docs) < 2:
            docs.append(loader.get_data())
            if len(docs) == 1 and docs[0] is None:
                # YAMLReader skips empty chunks between separators; a null one ends up here.
                docs.pop()
                break
    except yaml.YAMLError as exc:
        raise _Undecodable(f"invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    if not docs:
        return None, False
    return _to_json_model(docs[0]), len(docs) > 1


def load_first_document(path: Path) -> Any:
    """The first document of a manifest file, as Go's unstructured JSON would hold it."""
    return _decode_stream_first(path.read_bytes())[0]


# -- Go's encoding/json ------------------------------------------------------------------------


def _go_string(text: str, escape_html: bool) -> str:
    out = json.dumps(text, ensure_ascii=False)
    out = out.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    if escape_html:
        out = out.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return out


def go_marshal(value: Any, *, escape_html: bool = True, sort_keys: bool = True) -> str:
    """Compact JSON text as Go writes it (``json.Marshal`` sorts map keys and escapes ``<>&``).

    ``sort_keys=False`` keeps the dict order (for values that model Go structs).
    """
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _go_string(value, escape_html)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_format_float(value)
    if isinstance(value, list):
        return "[" + ",".join(go_marshal(v, escape_html=escape_html) for v in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: k.encode("utf-8")) if sort_keys else list(value)
        return (
            "{"
            + ",".join(
                _go_string(k, escape_html) + ":" + go_marshal(value[k], escape_html=escape_html)
                for k in keys
            )
            + "}"
        )
    raise TypeError(f"cannot marshal {type(value).__name__}")


def _ordered(value: Any) -> str:
    """A value's JSON text in its own key order, unescaped (how the comparison sees values)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# -- Go struct decoding ------------------------------------------------------------------------


def _field(obj: dict[str, Any], name: str) -> Any:
    """``encoding/json`` struct field look-up: exact or case-insensitive key, last one wins."""
    found: Any = _MISSING
    folded = name.casefold()
    for key, value in obj.items():
        if key == name or key.casefold() == folded:
            found = value
    return found


def _as_string(value: Any, where: str) -> str:
    if value is _MISSING or value is None:
        return ""
    if not isinstance(value, str):
        raise OracleError(f"json: cannot unmarshal {_json_kind(value)} into {where} of type string")
    return value


def _as_object(value: Any, where: str) -> dict[str, Any]:
    if value is _MISSING or value is None:
        return {}
    if not isinstance(value, dict):
        raise OracleError(f"json: cannot unmarshal {_json_kind(value)} into {where} (an object)")
    return value


def _as_list(value: Any, where: str) -> list[Any]:
    if value is _MISSING or value is None:
        return []
    if not isinstance(value, list):
        raise OracleError(f"json: cannot unmarshal {_json_kind(value)} into {where} (a list)")
    return value


def _as_bool(value: Any, where: str) -> bool:
    if value is _MISSING or value is None:
        return False
    if not isinstance(value, bool):
        raise OracleError(f"json: cannot unmarshal {_json_kind(value)} into {where} of type bool")
    return value


def _as_int32(value: Any, where: str) -> int:
    if value is _MISSING or value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**31) <= value < 2**31:
        raise OracleError(f"json: cannot unmarshal {_json_kind(value)} into {where} of type int32")
    return value


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _map_get(obj: dict[str, Any], key: str) -> Any:
    """A ``map[string]*json.RawMessage`` look-up: exact key, JSON null counts as absent."""
    value = obj.get(key, _MISSING)
    return _MISSING if value is None else value


# -- raw JSON texts (json.RawMessage keeps the source bytes) -----------------------------------


def _skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    return i


def _raw_properties(text: str) -> list[tuple[str, str]]:
    """``json.Unmarshal(text, &[]Property)`` keeping each value's raw text (type, raw value).

    Raises ``ValueError`` where Go's Unmarshal reports an error.
    """
    decoder = json.JSONDecoder()
    out: list[tuple[str, str]] = []
    i = _skip_ws(text, 0)
    if text[i : i + 1] != "[":
        json.loads(text)  # a syntax error is reported as such
        raise ValueError("cannot unmarshal non-array into []Property")
    i = _skip_ws(text, i + 1)
    if text[i : i + 1] == "]":
        if _skip_ws(text, i + 1) != len(text):
            raise ValueError("invalid character after top-level value")
        return out
    while True:
        i = _skip_ws(text, i)
        if text[i : i + 1] != "{":
            raise ValueError("cannot unmarshal non-object into Property")
        i = _skip_ws(text, i + 1)
        prop_type: Any = ""
        raw_value = ""
        if text[i : i + 1] == "}":
            i += 1
        else:
            while True:
                key, i = decoder.raw_decode(text, i)
                if not isinstance(key, str):
                    raise ValueError("object key must be a string")
                i = _skip_ws(text, i)
                if text[i : i + 1] != ":":
                    raise ValueError("expected ':'")
                i = _skip_ws(text, i + 1)
                value, end = decoder.raw_decode(text, i)
                raw = text[i:end]
                i = _skip_ws(text, end)
                if key == "type" or key.casefold() == "type":
                    if value is not None and not isinstance(value, str):
                        raise ValueError("cannot unmarshal into Property.type of type string")
                    prop_type = value or ""
                elif key == "value" or key.casefold() == "value":
                    raw_value = raw
                if text[i : i + 1] == ",":
                    i = _skip_ws(text, i + 1)
                    continue
                if text[i : i + 1] == "}":
                    i += 1
                    break
                raise ValueError("expected ',' or '}'")
        out.append((str(prop_type), raw_value))
        i = _skip_ws(text, i)
        if text[i : i + 1] == ",":
            i += 1
            continue
        if text[i : i + 1] == "]":
            i += 1
            break
        raise ValueError("expected ',' or ']'")
    if _skip_ws(text, i) != len(text):
        raise ValueError("invalid character after top-level value")
    return out


@dataclass(frozen=True, slots=True)
class _Prop:
    """A property as opm holds it: type, value (Python, in opm's output key order), raw bytes."""

    type: str
    value: Any
    raw: str

    def key(self) -> str:
        return f"{self.type}\x00{self.raw}"


def _built(prop_type: str, value: dict[str, Any]) -> _Prop:
    """A property built by ``property.MustBuild``: struct order, compact, no HTML escaping."""
    return _Prop(prop_type, value, go_marshal(value, escape_html=False, sort_keys=False))


def _from_yaml_file(prop_type: str, value: Any) -> _Prop:
    """A property read from a YAML metadata file: sigs.k8s.io/yaml made sorted, escaped JSON."""
    text = go_marshal(value)
    return _Prop(prop_type, json.loads(text), text)


def _from_raw(prop_type: str, raw: str) -> _Prop:
    """A property whose value is a ``json.RawMessage`` of source text (written back as is)."""
    return _Prop(prop_type, json.loads(raw) if raw else None, raw)


def _property_set(props: list[_Prop]) -> list[_Prop]:
    """opm's ``propertySet``: first occurrence of each (type, raw value)."""
    seen: set[str] = set()
    out = []
    for prop in props:
        if prop.key() not in seen:
            seen.add(prop.key())
            out.append(prop)
    return out


# -- the bundle --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OracleBundle:
    """What opm derives from one bundle directory (values in opm's output key order)."""

    name: str
    package: str
    channels: tuple[str, ...]
    default_channel: str
    version: str
    release: str
    replaces: str
    skips: tuple[str, ...]
    skip_range: str
    substitutes_for: str
    package_property: dict[str, Any]
    provided_gvks: frozenset[tuple[str, str, str]]
    required_gvks: frozenset[tuple[str, str, str]]
    required_packages: tuple[tuple[str, str], ...]
    other_properties: tuple[tuple[str, str], ...]
    related_images: tuple[tuple[str, str], ...]
    objects: tuple[str, ...]  # Go JSON of each manifest, in the order of the final properties
    properties: tuple[tuple[str, str], ...]
    csv_metadata: dict[str, Any] | None
    csv_metadata_error: str | None
    warnings: tuple[str, ...] = field(default=())


def _entries(directory: Path) -> list[os.DirEntry[str]]:
    return sorted(os.scandir(directory), key=lambda e: e.name.encode("utf-8"))


def _read_manifests(root: Path, warnings: list[str]) -> list[dict[str, Any]]:
    manifests = root / "manifests"
    if not manifests.is_dir():
        raise OracleError("error opening manifests directory")
    objects: list[dict[str, Any]] = []
    csv_found = False
    for entry in _entries(manifests):
        if entry.is_dir() or entry.name.startswith("."):
            continue
        try:
            doc, more = _decode_stream_first(Path(entry.path).read_bytes())
        except _Undecodable as exc:
            warnings.append(f"failed to decode: {entry.name}: {exc}")
            continue
        if not isinstance(doc, dict) or not isinstance(doc.get("kind"), str) or not doc["kind"]:
            # unstructured.Unstructured needs an object with a kind.
            warnings.append(f"failed to decode: {entry.name}: Object 'Kind' is missing")
            continue
        if more:
            warnings.append(f"found more than one document inside {entry.name}")
        if doc["kind"] == "ClusterServiceVersion":
            if csv_found:
                continue
            csv_found = True
        objects.append(doc)
    if not objects:
        raise OracleError("no bundle objects found")
    if not csv_found:
        raise OracleError("no csv in bundle")
    return objects


@dataclass(slots=True)
class _Metadata:
    package: str = ""
    channels: str = ""
    default_channel: str = ""
    dependencies: list[tuple[str, Any, str]] = field(default_factory=list)
    properties: list[_Prop] = field(default_factory=list)


def _decode_metadata_file(path: Path) -> tuple[Any, bool]:
    data = path.read_bytes()
    is_json = data.decode("utf-8", errors="replace").lstrip(" \t\r\n").startswith("{")
    doc, _ = _decode_stream_first(data)
    return doc, is_json


def _typed_list(doc: dict[str, Any], name: str, is_json: bool, text: str) -> list[_Prop] | None:
    """``DependenciesFile`` / ``PropertiesFile``: a list of ``{type, value}`` (None on error)."""
    raw_list = _field(doc, name)
    if raw_list is _MISSING or raw_list is None:
        return []
    if not isinstance(raw_list, list):
        return None
    raw_values: list[str] | None = None
    if is_json:
        # json.RawMessage keeps the file's own text for each value.
        try:
            raw_values = _raw_values_in_json_file(text, name)
        except ValueError:
            raw_values = None
    out: list[_Prop] = []
    for i, item in enumerate(raw_list):
        if item is None:
            out.append(_Prop("", None, ""))
            continue
        if not isinstance(item, dict):
            return None
        item_type = _field(item, "type")
        if item_type is not _MISSING and item_type is not None and not isinstance(item_type, str):
            return None
        item_value = _field(item, "value")
        prop_type = item_type if isinstance(item_type, str) else ""
        if item_value is _MISSING:
            out.append(_Prop(prop_type, None, ""))
        elif raw_values is not None and i < len(raw_values):
            out.append(_Prop(prop_type, json.loads(raw_values[i]), raw_values[i]))
        else:
            out.append(_from_yaml_file(prop_type, item_value))
    return out


def _raw_values_in_json_file(text: str, name: str) -> list[str]:
    """Raw value texts of ``{"<name>": [{"type":..., "value": ...}, ...]}`` in a JSON file."""
    decoder = json.JSONDecoder()
    stripped = text.lstrip(" \t\r\n")
    i = _skip_ws(stripped, 1)
    while i < len(stripped):
        key, i = decoder.raw_decode(stripped, i)
        i = _skip_ws(stripped, i)
        i = _skip_ws(stripped, i + 1)  # ':'
        value, end = decoder.raw_decode(stripped, i)
        if isinstance(key, str) and key.casefold() == name.casefold():
            return [raw for _, raw in _raw_properties(stripped[i:end])]
        i = _skip_ws(stripped, end)
        if stripped[i : i + 1] != ",":
            break
        i = _skip_ws(stripped, i + 1)
    return []


def _read_metadata(root: Path, warnings: list[str]) -> _Metadata:
    metadata_dir = root / "metadata"
    if not metadata_dir.is_dir():
        raise OracleError("error opening metadata directory")
    meta = _Metadata()
    found_annotations = found_dependencies = found_properties = False
    for entry in _entries(metadata_dir):
        path = Path(entry.path)
        try:
            if entry.is_dir():
                continue
            doc, is_json = _decode_metadata_file(path)
            text = path.read_bytes().decode("utf-8", errors="replace")
        except (_Undecodable, OSError):
            continue
        if not isinstance(doc, dict):
            continue
        if not found_annotations:
            annotations = _field(doc, "annotations")
            if annotations is _MISSING or annotations is None or isinstance(annotations, dict):
                fields = annotations if isinstance(annotations, dict) else {}
                try:
                    package = _as_string(_field(fields, PACKAGE_ANNOTATION), "package")
                    channels = _as_string(_field(fields, CHANNELS_ANNOTATION), "channels")
                    default = _as_string(_field(fields, DEFAULT_CHANNEL_ANNOTATION), "default")
                except OracleError:
                    package = channels = default = ""
                if package or channels or default:
                    meta.package, meta.channels, meta.default_channel = package, channels, default
                    found_annotations = True
        if not found_dependencies:
            deps = _typed_list(doc, "dependencies", is_json, text)
            if deps:
                meta.dependencies = [(p.type, p.value, p.raw) for p in deps]
                found_dependencies = True
        if not found_properties:
            props = _typed_list(doc, "properties", is_json, text)
            if props:
                meta.properties = props
                found_properties = True
    if not found_annotations:
        raise OracleError("Could not find annotations file")
    return meta


def _crd_apis(obj: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(group, version, kind, plural) of a CRD object; ``[]`` for other CRD API versions."""
    version = str(obj.get("apiVersion", "")).rsplit("/", 1)[-1]
    if version not in ("v1", "v1beta1"):
        return []
    spec = obj.get("spec")
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        raise OracleError(f"error decoding {version} CRD: spec is not an object")
    names = spec.get("names") or {}
    if not isinstance(names, dict):
        raise OracleError(f"error decoding {version} CRD: spec.names is not an object")
    where = f"error decoding {version} CRD"
    group = _as_string(spec.get("group", _MISSING), where)
    kind = _as_string(names.get("kind", _MISSING), where)
    plural = _as_string(names.get("plural", _MISSING), where)
    apis = []
    for item in _as_list(spec.get("versions", _MISSING), where):
        item = _as_object(item, where)
        apis.append((group, _as_string(item.get("name", _MISSING), where), kind, plural))
    if version == "v1beta1":
        single = _as_string(spec.get("version", _MISSING), where)
        if single:
            apis.append((group, single, kind, plural))
    return apis


def _definitions(
    spec: dict[str, Any], key: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``Get{CustomResource,ApiService}Definitions``: owned and required ``DefinitionKey`` s."""
    raw = _map_get(spec, key)
    if raw is _MISSING:
        return [], []
    section = _as_object(raw, f"spec.{key}")
    out: list[list[dict[str, Any]]] = []
    for group in ("owned", "required"):
        items = []
        for item in _as_list(_field(section, group), f"spec.{key}.{group}"):
            obj = _as_object(item, f"spec.{key}.{group}[]")
            items.append(
                {
                    name: _as_string(_field(obj, name), f"DefinitionKey.{name}")
                    for name in ("group", "kind", "name", "version")
                }
            )
        out.append(items)
    return out[0], out[1]


def _go_g(number: float) -> str:
    """Go ``fmt.Sprintf("%g", f)``: shortest digits, exponent form when it is < -4 or >= 6."""
    dec = Decimal(repr(number))
    sign, digits, exponent = dec.as_tuple()
    text = "".join(str(d) for d in digits).rstrip("0") or "0"
    exp10 = int(exponent) + len(digits) - 1
    if exp10 < -4 or exp10 >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return ("-" if sign else "") + f"{mantissa}e{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"
    plain = format(dec, "f")
    return plain.rstrip("0").rstrip(".") if "." in plain else plain


def _release(spec: dict[str, Any]) -> str:
    raw = _map_get(spec, "release")
    if raw is _MISSING:
        return ""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        if float(raw) == int(raw) and abs(raw) < 2**63:
            return str(int(raw))
        return _go_g(float(raw))
    raise OracleError("release field must be a string or number")


def _csv_string(spec: dict[str, Any], key: str) -> str:
    raw = _map_get(spec, key)
    if raw is _MISSING:
        return ""
    return _as_string(raw, f"spec.{key}")


def _operator_images(spec: dict[str, Any]) -> list[str]:
    """``GetOperatorImages``: container and init container images of the deployments."""
    install = _as_object(_field(spec, "install"), "spec.install")
    if _as_string(_field(install, "strategy"), "install.strategy") != "deployment":
        return []
    strategy_spec = _as_object(_field(install, "spec"), "install.spec")
    images: list[str] = []
    for dep in _as_list(_field(strategy_spec, "deployments"), "install.spec.deployments"):
        deployment_spec = _as_object(
            _field(_as_object(dep, "deployment"), "spec"), "DeploymentSpec"
        )
        template = _as_object(_field(deployment_spec, "template"), "PodTemplateSpec")
        pod = _as_object(_field(template, "spec"), "PodSpec")
        for key in ("containers", "initContainers"):
            for container in _as_list(_field(pod, key), key):
                images.append(_as_string(_field(_as_object(container, key), "image"), "image"))
    return images


def _related_images(spec: dict[str, Any], image: str) -> list[tuple[str, str]]:
    related: list[tuple[str, str]] = []
    raw = _map_get(spec, "relatedImages")
    if raw is not _MISSING:
        for item in _as_list(raw, "spec.relatedImages"):
            obj = _as_object(item, "relatedImages[]")
            related.append(
                (
                    _as_string(_field(obj, "image"), "RelatedImage.image"),
                    _as_string(_field(obj, "name"), "RelatedImage.name"),
                )
            )
    seen = {img for img, _ in related}
    if image and image not in seen:
        related.append((image, ""))
    for img in dict.fromkeys(_operator_images(spec)):
        if img not in seen:
            related.append((img, ""))
        seen.add(img)
    return sorted(related, key=lambda r: (r[0].encode("utf-8"), r[1].encode("utf-8")))


def read_bundle(root: Path, image: str) -> OracleBundle:
    """Derive what ``opm render`` (and opm's SQLite loader) take from a bundle directory.

    Raises :class:`OracleError` where opm fails.
    """
    root = Path(root)
    warnings: list[str] = []
    objects = _read_manifests(root, warnings)
    csv = next(o for o in objects if o["kind"] == "ClusterServiceVersion")
    metadata = _as_object(csv.get("metadata"), "csv.metadata")
    name = _as_string(metadata.get("name", _MISSING), "ObjectMeta.name")
    annotations: dict[str, str] = {}
    for key in ("annotations", "labels"):
        value = _as_object(metadata.get(key, _MISSING), f"ObjectMeta.{key}")
        for k, v in value.items():
            if v is not None and not isinstance(v, str):
                raise OracleError(f"ObjectMeta.{key}.{k}: cannot unmarshal into string")
        if key == "annotations":
            annotations = {k: v or "" for k, v in value.items()}
    spec_raw = csv.get("spec")
    if not isinstance(spec_raw, dict):
        raise OracleError("error unmarshaling CSV spec")
    spec: dict[str, Any] = spec_raw

    # Provided and required APIs; every owned CRD must be provided.
    provided: dict[tuple[str, str, str, str], None] = {}
    for obj in objects:
        if obj["kind"] == "CustomResourceDefinition":
            for crd_api in _crd_apis(obj):
                provided[crd_api] = None
    owned_apis, required_apis = _definitions(spec, "apiservicedefinitions")
    for api in owned_apis:
        provided[(api["group"], api["version"], api["kind"], api["name"])] = None
    owned_crds, required_crds = _definitions(spec, "customresourcedefinitions")
    for crd in owned_crds:
        plural, dot, group = crd["name"].partition(".")
        if not dot:
            raise OracleError(
                f"error checking provided apis in bundle {name}: couldn't parse plural.group "
                f"from crd name: {crd['name']}"
            )
        if (group, crd["version"], crd["kind"], plural) not in provided:
            raise OracleError(
                f"error checking provided apis in bundle {name}: couldn't find "
                f"{group}/{crd['version']}/{crd['kind']} ({plural}) in bundle"
            )
    required: set[tuple[str, str, str]] = set()
    for crd in required_crds:
        plural, dot, group = crd["name"].partition(".")
        if not dot:
            raise OracleError(f"couldn't parse plural.group from crd name: {crd['name']}")
        required.add((group, crd["kind"], crd["version"]))
    for api in required_apis:
        required.add((api["group"], api["kind"], api["version"]))

    meta = _read_metadata(root, warnings)
    version = _csv_string(spec, "version")
    release = _release(spec)

    # derivedProperties: olm.package, the CSV's olm.properties, olm.gvk per provided API.
    derived: list[_Prop] = []
    if "olm.properties" in annotations:
        try:
            derived = [
                _from_raw(t, raw) for t, raw in _raw_properties(annotations["olm.properties"])
            ]
        except ValueError as exc:
            derived = []
            warnings.append(f"failed to unmarshal csv annotation properties: {exc}")
    if meta.package:
        package_value = {"packageName": meta.package, "version": version}
        if release:
            package_value["release"] = release
        derived.insert(0, _built("olm.package", package_value))
    for group, api_version, kind, _plural in provided:
        derived.append(_built("olm.gvk", {"group": group, "kind": kind, "version": api_version}))
    all_props = _property_set(meta.properties + _property_set(derived))

    # ObjectsAndPropertiesFromBundle.
    gvks: set[tuple[str, str, str]] = set()
    package_prop: _Prop | None = None
    others: list[_Prop] = []
    for prop in all_props:
        if prop.type == "olm.gvk":
            value = _as_object(prop.value, "property.GVK")
            gvks.add(
                tuple(
                    _as_string(_field(value, k), f"GVK.{k}") for k in ("group", "kind", "version")
                )  # type: ignore[arg-type]
            )
        elif prop.type == "olm.package":
            value = _as_object(prop.value, "property.Package")
            package_value = {
                "packageName": _as_string(_field(value, "packageName"), "Package.packageName"),
                "version": _as_string(_field(value, "version"), "Package.version"),
            }
            rel = _as_string(_field(value, "release"), "Package.release")
            if rel:
                package_value["release"] = rel
            package_prop = _built("olm.package", package_value)
        else:
            others.append(prop)
    gvks_required: set[tuple[str, str, str]] = set()
    packages_required: list[_Prop] = []
    for dep_type, dep_value, dep_raw in meta.dependencies:
        if dep_type == "olm.gvk":
            value = _as_object(dep_value, "property.GVK")
            gvks_required.add(
                tuple(
                    _as_string(_field(value, k), f"GVK.{k}") for k in ("group", "kind", "version")
                )  # type: ignore[arg-type]
            )
        elif dep_type == "olm.package":
            value = _as_object(dep_value, "property.Package")
            packages_required.append(
                _built(
                    "olm.package.required",
                    {
                        "packageName": _as_string(_field(value, "packageName"), "packageName"),
                        "versionRange": _as_string(_field(value, "version"), "version"),
                    },
                )
            )
        else:
            others.append(_Prop(dep_type, dep_value, dep_raw))
    gvks_required |= required
    if package_prop is None:
        fallback = {"packageName": meta.package, "version": version}
        if release:
            fallback["release"] = release
        package_prop = _built("olm.package", fallback)

    object_texts = [go_marshal(obj) for obj in objects]
    props: list[_Prop] = [
        _built("olm.bundle.object", {"data": base64.b64encode(t.encode("utf-8")).decode("ascii")})
        for t in object_texts
    ]
    props.append(package_prop)
    props.extend(_built("olm.gvk", {"group": g, "kind": k, "version": v}) for g, k, v in gvks)
    props.extend(
        _built("olm.gvk.required", {"group": g, "kind": k, "version": v})
        for g, k, v in gvks_required
    )
    props.extend(packages_required)
    props.extend(others)
    props.sort(key=lambda p: (p.type.encode("utf-8"), p.raw.encode("utf-8")))
    props = [p for p in props if p.type not in ("olm.bundle.object", "olm.csv.metadata")] + [
        p for p in props if p.type in ("olm.bundle.object", "olm.csv.metadata")
    ]

    csv_metadata: dict[str, Any] | None = None
    csv_metadata_error: str | None = None
    if image:
        try:
            csv_metadata = csv_metadata_value(csv)
        except OracleError as exc:
            csv_metadata_error = str(exc)

    return OracleBundle(
        name=name,
        package=meta.package,
        channels=tuple(meta.channels.split(",")) if meta.channels else (),
        default_channel=meta.default_channel,
        version=version,
        release=release,
        replaces=_csv_string(spec, "replaces"),
        skips=tuple(
            _as_string(s, "spec.skips[]") for s in _as_list(_map_get(spec, "skips"), "spec.skips")
        ),
        skip_range=annotations.get("olm.skipRange", ""),
        substitutes_for=annotations.get("olm.substitutesFor", ""),
        package_property=package_prop.value,
        provided_gvks=frozenset(gvks),
        required_gvks=frozenset(gvks_required),
        required_packages=tuple(
            sorted((p.value["packageName"], p.value["versionRange"]) for p in packages_required)
        ),
        other_properties=tuple(sorted((p.type, _ordered(p.value)) for p in others)),
        related_images=tuple(_related_images(spec, image)),
        objects=tuple(
            base64.b64decode(p.value["data"]).decode("utf-8")
            for p in props
            if p.type == "olm.bundle.object"
        ),
        properties=tuple((p.type, _ordered(p.value)) for p in props),
        csv_metadata=csv_metadata,
        csv_metadata_error=csv_metadata_error,
        warnings=tuple(warnings),
    )


# -- olm.csv.metadata (operator-framework/api v1alpha1 types) ----------------------------------

_SEMVER_CORE = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*)){0,2}")
_SEMVER = re.compile(
    r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    r"(-(0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)(\.(0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*))*)?"
    r"(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$"
)


def _parse_tolerant(text: str) -> None:
    """blang/semver ``ParseTolerant``: trim, drop a leading ``v``, pad a short core with ``.0``."""
    text = text.strip().removeprefix("v")
    match = _SEMVER_CORE.match(text)
    if match and match.group(0).count(".") < 2:
        core = match.group(0)
        rest = text[len(core) :]
        if rest[:1] not in ("", "-", "+"):
            raise OracleError(f"Invalid character(s) found in version {text!r}")
        text = core + ".0" * (2 - core.count(".")) + rest
    if not _SEMVER.match(text):
        raise OracleError(f"invalid semver {text!r}")


def _descriptor_list(value: Any, where: str) -> list[dict[str, Any]]:
    out = []
    for item in _as_list(value, where):
        obj = _as_object(item, where)
        desc: dict[str, Any] = {"path": _as_string(_field(obj, "path"), f"{where}.path")}
        for key in ("displayName", "description"):
            text = _as_string(_field(obj, key), f"{where}.{key}")
            if text:
                desc[key] = text
        x_desc = [_as_string(x, where) for x in _as_list(_field(obj, "x-descriptors"), where)]
        if x_desc:
            desc["x-descriptors"] = x_desc
        raw = _field(obj, "value")
        if raw is not _MISSING:
            # json.RawMessage: a JSON null is kept as the text "null" (non-empty, so emitted).
            desc["value"] = json.loads(go_marshal(raw))
        out.append(desc)
    return out


def _described(obj: dict[str, Any], where: str, out: dict[str, Any]) -> None:
    for key in ("displayName", "description"):
        text = _as_string(_field(obj, key), f"{where}.{key}")
        if text:
            out[key] = text
    resources = []
    for item in _as_list(_field(obj, "resources"), f"{where}.resources"):
        res = _as_object(item, f"{where}.resources[]")
        resources.append(
            {
                k: _as_string(_field(res, k), f"APIResourceReference.{k}")
                for k in ("name", "kind", "version")
            }
        )
    if resources:
        out["resources"] = resources
    for key in ("statusDescriptors", "specDescriptors", "actionDescriptors"):
        descs = _descriptor_list(_field(obj, key), f"{where}.{key}")
        if descs:
            out[key] = descs


def _crd_descriptions(value: Any) -> dict[str, Any]:
    section = _as_object(value, "spec.customresourcedefinitions")
    out: dict[str, Any] = {}
    for group in ("owned", "required"):
        items = []
        for item in _as_list(_field(section, group), f"crd {group}"):
            obj = _as_object(item, f"crd {group}[]")
            entry = {
                k: _as_string(_field(obj, k), f"CRDDescription.{k}")
                for k in ("name", "version", "kind")
            }
            _described(obj, "CRDDescription", entry)
            items.append(entry)
        if items:
            out[group] = items
    return out


def _api_service_descriptions(value: Any) -> dict[str, Any]:
    section = _as_object(value, "spec.apiservicedefinitions")
    out: dict[str, Any] = {}
    for group in ("owned", "required"):
        items = []
        for item in _as_list(_field(section, group), f"apiservice {group}"):
            obj = _as_object(item, f"apiservice {group}[]")
            entry: dict[str, Any] = {
                k: _as_string(_field(obj, k), f"APIServiceDescription.{k}")
                for k in ("name", "group", "version", "kind")
            }
            deployment = _as_string(_field(obj, "deploymentName"), "deploymentName")
            if deployment:
                entry["deploymentName"] = deployment
            port = _as_int32(_field(obj, "containerPort"), "containerPort")
            if port:
                entry["containerPort"] = port
            _described(obj, "APIServiceDescription", entry)
            items.append(entry)
        if items:
            out[group] = items
    return out


def _app_link(value: Any, where: str) -> dict[str, Any]:
    obj = _as_object(value, where)
    out = {}
    for json_key, go_key in (("name", "name"), ("url", "url")):
        text = _as_string(_field(obj, go_key), f"{where}.{json_key}")
        if text:
            out[json_key] = text
    return out


def _string_map(value: Any, where: str) -> dict[str, str]:
    obj = _as_object(value, where)
    out = {}
    for key in sorted(obj, key=lambda k: k.encode("utf-8")):
        out[key] = _as_string(obj[key], f"{where}.{key}")
    return out


def csv_metadata_value(csv: dict[str, Any]) -> dict[str, Any]:
    """``property.MustBuildCSVMetadata`` of the CSV decoded into ``v1alpha1`` types.

    Raises :class:`OracleError` where the typed decode fails (the migration fails then).
    """
    metadata = csv.get("metadata") or {}
    spec = _as_object(csv.get("spec"), "spec")
    version = _field(spec, "version")
    if version is not _MISSING and version is not None:
        _parse_tolerant(_as_string(version, "OperatorVersion"))
    release = _field(spec, "release")
    if release is not _MISSING and release is not None:
        for segment in _as_string(release, "OperatorRelease").split("."):
            if not segment or (segment.isdigit() and len(segment) > 1 and segment[0] == "0"):
                raise OracleError(f"invalid release segment {segment!r}")
    out: dict[str, Any] = {}
    annotations = _string_map(metadata.get("annotations"), "metadata.annotations")
    if annotations:
        out["annotations"] = annotations
    out["apiServiceDefinitions"] = _api_service_descriptions(_field(spec, "apiservicedefinitions"))
    out["crdDescriptions"] = _crd_descriptions(_field(spec, "customresourcedefinitions"))
    for key in ("description", "displayName"):
        text = _as_string(_field(spec, key), f"spec.{key}")
        if text:
            out[key] = text
    modes = []
    for item in _as_list(_field(spec, "installModes"), "spec.installModes"):
        obj = _as_object(item, "InstallMode")
        modes.append(
            {
                "type": _as_string(_field(obj, "type"), "InstallMode.type"),
                "supported": _as_bool(_field(obj, "supported"), "InstallMode.supported"),
            }
        )
    if modes:
        out["installModes"] = modes
    keywords = [
        _as_string(k, "spec.keywords[]") for k in _as_list(_field(spec, "keywords"), "keywords")
    ]
    if keywords:
        out["keywords"] = keywords
    labels = _string_map(metadata.get("labels"), "metadata.labels")
    if labels:
        out["labels"] = labels
    links = [_app_link(item, "AppLink") for item in _as_list(_field(spec, "links"), "spec.links")]
    if links:
        out["links"] = links
    maintainers = []
    for item in _as_list(_field(spec, "maintainers"), "spec.maintainers"):
        obj = _as_object(item, "Maintainer")
        person = {}
        for key in ("name", "email"):
            text = _as_string(_field(obj, key), f"Maintainer.{key}")
            if text:
                person[key] = text
        maintainers.append(person)
    if maintainers:
        out["maintainers"] = maintainers
    for key in ("maturity", "minKubeVersion"):
        text = _as_string(_field(spec, key), f"spec.{key}")
        if text:
            out[key] = text
    native = []
    for item in _as_list(_field(spec, "nativeAPIs"), "spec.nativeAPIs"):
        obj = _as_object(item, "GroupVersionKind")
        native.append(
            {
                k: _as_string(_field(obj, k), f"GroupVersionKind.{k}")
                for k in ("group", "version", "kind")
            }
        )
    if native:
        out["nativeAPIs"] = native
    out["provider"] = _app_link(_field(spec, "provider"), "spec.provider")
    return out
