"""Bundle properties: canonical ordering, typed builders and the ``olm.csv.metadata`` form.

opm sorts a bundle's properties by type and then by the bytes of the compact JSON value,
drops exact duplicates, and moves ``olm.bundle.object`` / ``olm.csv.metadata`` to the end
(keeping their relative order). ``olm.csv.metadata`` is the CSV re-marshalled through the
typed ``v1alpha1`` structs of operator-framework/api, so fields appear in struct order,
empty ``omitempty`` fields disappear and the two definition structs are always present.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from typing import Any

from services.common.errors import CatalogError

from . import gojson
from .documents import loads_bounded
from .model import (
    PROP_BUNDLE_OBJECT,
    PROP_CSV_METADATA,
    Bundle,
    Property,
)

__all__ = [
    "bundle_objects",
    "canonical_properties",
    "convert_to_csv_metadata",
    "csv_from_bundle",
    "csv_metadata_value",
    "gvk_value",
    "package_value",
    "package_required_value",
]

_TAIL_TYPES = (PROP_BUNDLE_OBJECT, PROP_CSV_METADATA)


def package_value(name: str, version: str, release: str = "") -> dict[str, Any]:
    """The value of an ``olm.package`` property."""
    value: dict[str, Any] = {"packageName": name, "version": version}
    if release:
        value["release"] = release
    return value


def gvk_value(group: str, version: str, kind: str) -> dict[str, Any]:
    """The value of an ``olm.gvk`` / ``olm.gvk.required`` property (opm's field order)."""
    return {"group": group, "kind": kind, "version": version}


def package_required_value(name: str, version_range: str) -> dict[str, Any]:
    """The value of an ``olm.package.required`` property."""
    return {"packageName": name, "versionRange": version_range}


def canonical_properties(props: Iterable[Property]) -> list[Property]:
    """De-duplicate, sort by (type, compact value) and move bundle objects/csv metadata last."""
    seen: set[tuple[str, str]] = set()
    keyed: list[tuple[str, str, Property]] = []
    for prop in props:
        key = (prop.type, gojson.compact(prop.value))
        if key in seen:
            continue
        seen.add(key)
        keyed.append((key[0], key[1], prop))
    keyed.sort(key=lambda item: (item[0].encode("utf-8"), item[1].encode("utf-8")))
    head = [p for t, _, p in keyed if t not in _TAIL_TYPES]
    tail = [p for t, _, p in keyed if t in _TAIL_TYPES]
    return head + tail


def bundle_objects(bundle: Bundle) -> list[str]:
    """The JSON text of each ``olm.bundle.object`` of a bundle (base64 ``data`` decoded)."""
    out: list[str] = []
    for i, prop in enumerate(bundle.properties):
        if prop.type != PROP_BUNDLE_OBJECT:
            continue
        value = prop.value
        data = value.get("data") if isinstance(value, dict) else None
        if not isinstance(data, str):
            raise CatalogError(
                f"package {bundle.package!r}, bundle {bundle.name!r}: property at index {i} "
                "is not a valid olm.bundle.object (missing base64 'data')"
            )
        try:
            # Go's base64 decoder (opm's json.Unmarshal of []byte) skips line breaks
            raw = base64.b64decode(data.replace("\n", "").replace("\r", ""), validate=True)
            out.append(raw.decode("utf-8", "replace"))
        except ValueError as exc:
            raise CatalogError(
                f"package {bundle.package!r}, bundle {bundle.name!r}: olm.bundle.object at index "
                f"{i} has invalid base64 data: {exc}"
            ) from None
    return out


def csv_from_bundle(bundle: Bundle) -> dict[str, Any] | None:
    """The CSV carried in a bundle's ``olm.bundle.object`` properties, if any."""
    for text in bundle_objects(bundle):
        try:
            obj = loads_bounded(text)
        except ValueError:
            continue
        if isinstance(obj, dict) and obj.get("kind") == "ClusterServiceVersion":
            return obj
    return None


# -- typed re-marshalling of CSV fields (operator-framework/api v1alpha1) ------------------


def _where(path: str) -> str:
    return f"CSV field {path}"


def _field(obj: dict[str, Any], key: str) -> Any:
    """A Go struct field decoded by ``encoding/json``: keys match case-insensitively, last wins.

    (``MinKubeVersion:`` in a CSV fills ``minKubeVersion``.)
    """
    value = obj.get(key)
    folded = key.casefold()
    for name, candidate in obj.items():
        if name != key and name.casefold() == folded:
            value = candidate
    return value


def _go_sorted(value: Any) -> Any:
    """A JSON value with every object's keys sorted, as Go's ``json.Marshal`` writes maps."""
    if isinstance(value, dict):
        return {k: _go_sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_go_sorted(v) for v in value]
    return value


def _t_str(value: Any, path: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise CatalogError(f"{_where(path)} must be a string")
    return value


def _t_int(value: Any, path: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise CatalogError(f"{_where(path)} must be an integer")
    return int(value)


def _t_bool(value: Any, path: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise CatalogError(f"{_where(path)} must be a boolean")
    return value


def _t_list(value: Any, path: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise CatalogError(f"{_where(path)} must be a list")
    return value


def _t_obj(value: Any, path: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CatalogError(f"{_where(path)} must be an object")
    return value


def _t_str_map(value: Any, path: str) -> dict[str, str]:
    obj = _t_obj(value, path)
    out: dict[str, str] = {}
    for key in sorted(obj):
        out[key] = _t_str(obj[key], f"{path}.{key}")
    return out


def _omit_put(out: dict[str, Any], key: str, value: Any) -> None:
    if value not in ("", 0, None, [], {}, False):
        out[key] = value


def _resources(value: Any, path: str) -> list[dict[str, Any]]:
    out = []
    for i, item in enumerate(_t_list(value, path)):
        obj = _t_obj(item, f"{path}[{i}]")
        out.append(
            {
                "name": _t_str(_field(obj, "name"), f"{path}[{i}].name"),
                "kind": _t_str(_field(obj, "kind"), f"{path}[{i}].kind"),
                "version": _t_str(_field(obj, "version"), f"{path}[{i}].version"),
            }
        )
    return out


def _descriptors(value: Any, path: str) -> list[dict[str, Any]]:
    out = []
    for i, item in enumerate(_t_list(value, path)):
        where = f"{path}[{i}]"
        obj = _t_obj(item, where)
        desc: dict[str, Any] = {"path": _t_str(_field(obj, "path"), f"{where}.path")}
        _omit_put(desc, "displayName", _t_str(_field(obj, "displayName"), f"{where}.displayName"))
        _omit_put(desc, "description", _t_str(_field(obj, "description"), f"{where}.description"))
        x_desc = [
            _t_str(x, f"{where}.x-descriptors")
            for x in _t_list(_field(obj, "x-descriptors"), f"{where}.x-descriptors")
        ]
        _omit_put(desc, "x-descriptors", x_desc)
        if any(key.casefold() == "value" for key in obj):
            # json.RawMessage of the CSV's Go JSON: a null is the text "null" (non-empty, so
            # written) and objects have their keys sorted.
            desc["value"] = _go_sorted(_field(obj, "value"))
        out.append(desc)
    return out


def _described(obj: dict[str, Any], where: str, out: dict[str, Any]) -> None:
    _omit_put(out, "displayName", _t_str(_field(obj, "displayName"), f"{where}.displayName"))
    _omit_put(out, "description", _t_str(_field(obj, "description"), f"{where}.description"))
    _omit_put(out, "resources", _resources(_field(obj, "resources"), f"{where}.resources"))
    for key in ("statusDescriptors", "specDescriptors", "actionDescriptors"):
        _omit_put(out, key, _descriptors(_field(obj, key), f"{where}.{key}"))


def _owned_and_required(
    value: Any, path: str, describe: Callable[[dict[str, Any], str], dict[str, Any]]
) -> dict[str, Any]:
    """Go's ``{owned, required}`` description lists; ``describe`` encodes one item's own keys."""
    obj = _t_obj(value, path)
    out: dict[str, Any] = {}
    for group in ("owned", "required"):
        items = []
        for i, item in enumerate(_t_list(_field(obj, group), f"{path}.{group}")):
            where = f"{path}.{group}[{i}]"
            desc = _t_obj(item, where)
            entry = describe(desc, where)
            _described(desc, where, entry)
            items.append(entry)
        _omit_put(out, group, items)
    return out


def _crd_description(desc: dict[str, Any], where: str) -> dict[str, Any]:
    return {
        "name": _t_str(_field(desc, "name"), f"{where}.name"),
        "version": _t_str(_field(desc, "version"), f"{where}.version"),
        "kind": _t_str(_field(desc, "kind"), f"{where}.kind"),
    }


def _api_service_description(desc: dict[str, Any], where: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": _t_str(_field(desc, "name"), f"{where}.name"),
        "group": _t_str(_field(desc, "group"), f"{where}.group"),
        "version": _t_str(_field(desc, "version"), f"{where}.version"),
        "kind": _t_str(_field(desc, "kind"), f"{where}.kind"),
    }
    _omit_put(
        entry, "deploymentName", _t_str(_field(desc, "deploymentName"), f"{where}.deploymentName")
    )
    _omit_put(
        entry, "containerPort", _t_int(_field(desc, "containerPort"), f"{where}.containerPort")
    )
    return entry


def _app_link(value: Any, path: str) -> dict[str, Any]:
    obj = _t_obj(value, path)
    out: dict[str, Any] = {}
    _omit_put(out, "name", _t_str(_field(obj, "name"), f"{path}.name"))
    _omit_put(out, "url", _t_str(_field(obj, "url"), f"{path}.url"))
    return out


def csv_metadata_value(csv: dict[str, Any]) -> dict[str, Any]:
    """The ``olm.csv.metadata`` value of a CSV (opm's ``MustBuildCSVMetadata``)."""
    metadata = _t_obj(_field(csv, "metadata"), "metadata")
    spec = _t_obj(_field(csv, "spec"), "spec")
    out: dict[str, Any] = {}
    _omit_put(
        out, "annotations", _t_str_map(_field(metadata, "annotations"), "metadata.annotations")
    )
    out["apiServiceDefinitions"] = _owned_and_required(
        _field(spec, "apiservicedefinitions"),
        "spec.apiservicedefinitions",
        _api_service_description,
    )
    out["crdDescriptions"] = _owned_and_required(
        _field(spec, "customresourcedefinitions"),
        "spec.customresourcedefinitions",
        _crd_description,
    )
    _omit_put(out, "description", _t_str(_field(spec, "description"), "spec.description"))
    _omit_put(out, "displayName", _t_str(_field(spec, "displayName"), "spec.displayName"))
    modes = []
    for i, item in enumerate(_t_list(_field(spec, "installModes"), "spec.installModes")):
        mode = _t_obj(item, f"spec.installModes[{i}]")
        modes.append(
            {
                "type": _t_str(_field(mode, "type"), f"spec.installModes[{i}].type"),
                "supported": _t_bool(
                    _field(mode, "supported"), f"spec.installModes[{i}].supported"
                ),
            }
        )
    _omit_put(out, "installModes", modes)
    keywords = [
        _t_str(k, "spec.keywords") for k in _t_list(_field(spec, "keywords"), "spec.keywords")
    ]
    _omit_put(out, "keywords", keywords)
    _omit_put(out, "labels", _t_str_map(_field(metadata, "labels"), "metadata.labels"))
    links = [
        _app_link(item, f"spec.links[{i}]")
        for i, item in enumerate(_t_list(_field(spec, "links"), "spec.links"))
    ]
    _omit_put(out, "links", links)
    maintainers = []
    for i, item in enumerate(_t_list(_field(spec, "maintainers"), "spec.maintainers")):
        obj = _t_obj(item, f"spec.maintainers[{i}]")
        person: dict[str, Any] = {}
        _omit_put(person, "name", _t_str(_field(obj, "name"), f"spec.maintainers[{i}].name"))
        _omit_put(person, "email", _t_str(_field(obj, "email"), f"spec.maintainers[{i}].email"))
        maintainers.append(person)
    _omit_put(out, "maintainers", maintainers)
    _omit_put(out, "maturity", _t_str(_field(spec, "maturity"), "spec.maturity"))
    _omit_put(out, "minKubeVersion", _t_str(_field(spec, "minKubeVersion"), "spec.minKubeVersion"))
    native = []
    for i, item in enumerate(_t_list(_field(spec, "nativeAPIs"), "spec.nativeAPIs")):
        obj = _t_obj(item, f"spec.nativeAPIs[{i}]")
        native.append(
            {
                "group": _t_str(_field(obj, "group"), f"spec.nativeAPIs[{i}].group"),
                "version": _t_str(_field(obj, "version"), f"spec.nativeAPIs[{i}].version"),
                "kind": _t_str(_field(obj, "kind"), f"spec.nativeAPIs[{i}].kind"),
            }
        )
    _omit_put(out, "nativeAPIs", native)
    out["provider"] = _app_link(_field(spec, "provider"), "spec.provider")
    return out


def convert_to_csv_metadata(bundle: Bundle, csv: dict[str, Any] | None = None) -> bool:
    """Replace a bundle's ``olm.bundle.object`` properties by one ``olm.csv.metadata``.

    opm's ``bundle-object-to-csv-metadata`` migration: only bundles with an image and a CSV
    are converted, and a bundle that already has ``olm.csv.metadata`` is left alone.
    Returns whether the bundle changed.
    """
    if not bundle.image:
        return False
    if any(p.type == PROP_CSV_METADATA for p in bundle.properties):
        return False
    if csv is None:
        csv = csv_from_bundle(bundle)
    if csv is None:
        return False
    try:
        value = csv_metadata_value(csv)
    except CatalogError as exc:
        raise CatalogError(
            f"package {bundle.package!r}, bundle {bundle.name!r}: {exc.message}"
        ) from None
    kept = [p for p in bundle.properties if p.type != PROP_BUNDLE_OBJECT]
    kept.append(Property(PROP_CSV_METADATA, value))
    bundle.properties = kept
    return True
