"""Decoding raw JSON objects into the wire model and encoding the model back.

Decoding follows Go's ``json.Unmarshal`` into opm's declcfg structs: unknown fields of known
schemas are dropped, ``null`` means "empty", a value of the wrong JSON type is an error (named
here by file and field). Encoding produces dicts whose key order is opm's struct field order
and whose ``omitempty`` fields are left out, ready for :mod:`.gojson`.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from services.common.errors import CatalogError

from .model import (
    SCHEMA_BUNDLE,
    SCHEMA_CHANNEL,
    SCHEMA_DEPRECATIONS,
    SCHEMA_PACKAGE,
    Bundle,
    Channel,
    ChannelEntry,
    Deprecation,
    DeprecationEntry,
    Icon,
    Other,
    Package,
    Property,
    RelatedImage,
)

__all__ = [
    "Doc",
    "decode_doc",
    "encode_doc",
    "meta_of",
]

Doc = Package | Channel | Bundle | Deprecation | Other

_META_KEYS = ("schema", "package", "name")


def _snippet(obj: Any) -> str:
    text = json.dumps(obj, ensure_ascii=False, default=str)
    return text if len(text) <= 200 else text[:200] + "…"


def meta_of(doc: Any, where: str) -> tuple[str, str, str]:
    """Return ``(schema, package, name)`` of a raw document (keys matched case-insensitively)."""
    if not isinstance(doc, dict):
        raise CatalogError(f"{where}: expected a JSON object, found {type(doc).__name__}")
    values = {key: doc.get(key) for key in _META_KEYS}
    if values["schema"] is None or any(k not in doc for k in _META_KEYS):
        folded: dict[str, list[str]] = {}
        for key in doc:
            if isinstance(key, str) and key.lower() in _META_KEYS:
                folded.setdefault(key.lower(), []).append(key)
        for low, keys in folded.items():
            if len(keys) > 1:
                raise CatalogError(f"{where}: duplicate keys for key {low!r}: {sorted(keys)}")
            values[low] = doc[keys[0]]
    result: list[str] = []
    for key in _META_KEYS:
        value = values[key]
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise CatalogError(
                f"{where}: expected value for key {key!r} to be a string, got {_snippet(value)}"
            )
        result.append(value)
    schema, package, name = result
    if not schema:
        raise CatalogError(f"{where}: object '{_snippet(doc)}' is missing root schema field")
    return schema, package, name


def _str(doc: dict[str, Any], key: str, where: str, what: str) -> str:
    value = doc.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise CatalogError(f"{where}: {what} field {key!r} must be a string, got {_snippet(value)}")
    return value


def _list(doc: dict[str, Any], key: str, where: str, what: str) -> list[Any]:
    value = doc.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise CatalogError(f"{where}: {what} field {key!r} must be a list, got {_snippet(value)}")
    return value


def _properties(doc: dict[str, Any], where: str, what: str) -> list[Property]:
    out: list[Property] = []
    for i, item in enumerate(_list(doc, "properties", where, what)):
        if not isinstance(item, dict):
            raise CatalogError(f"{where}: {what} properties[{i}] must be an object")
        prop_type = item.get("type")
        if prop_type is None:
            prop_type = ""
        if not isinstance(prop_type, str):
            raise CatalogError(f"{where}: {what} properties[{i}].type must be a string")
        out.append(Property(prop_type, item.get("value")))
    return out


def _decode_package(doc: dict[str, Any], where: str) -> Package:
    what = "olm.package"
    icon = None
    raw_icon = doc.get("icon")
    if raw_icon is not None:
        if not isinstance(raw_icon, dict):
            raise CatalogError(f"{where}: {what} field 'icon' must be an object")
        data = _str(raw_icon, "base64data", where, f"{what} icon")
        try:
            decoded = base64.b64decode(data.replace("\r", "").replace("\n", ""), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CatalogError(
                f"{where}: {what} field 'icon.base64data' is not valid base64: {exc}"
            ) from None
        icon = Icon(
            base64.b64encode(decoded).decode("ascii"), _str(raw_icon, "mediatype", where, what)
        )
    return Package(
        name=_str(doc, "name", where, what),
        default_channel=_str(doc, "defaultChannel", where, what),
        icon=icon,
        description=_str(doc, "description", where, what),
        properties=_properties(doc, where, what),
    )


def _decode_channel(doc: dict[str, Any], where: str) -> Channel:
    what = "olm.channel"
    entries: list[ChannelEntry] = []
    for i, item in enumerate(_list(doc, "entries", where, what)):
        if not isinstance(item, dict):
            raise CatalogError(f"{where}: {what} entries[{i}] must be an object")
        label = f"{what} entries[{i}]"
        skips = _list(item, "skips", where, label)
        for skip in skips:
            if not isinstance(skip, str):
                raise CatalogError(f"{where}: {label} field 'skips' must hold strings")
        entries.append(
            ChannelEntry(
                name=_str(item, "name", where, label),
                replaces=_str(item, "replaces", where, label),
                skips=list(skips),
                skip_range=_str(item, "skipRange", where, label),
            )
        )
    return Channel(
        name=_str(doc, "name", where, what),
        package=_str(doc, "package", where, what),
        entries=entries,
        properties=_properties(doc, where, what),
    )


def _decode_bundle(doc: dict[str, Any], where: str) -> Bundle:
    what = "olm.bundle"
    related: list[RelatedImage] = []
    for i, item in enumerate(_list(doc, "relatedImages", where, what)):
        if not isinstance(item, dict):
            raise CatalogError(f"{where}: {what} relatedImages[{i}] must be an object")
        label = f"{what} relatedImages[{i}]"
        related.append(
            RelatedImage(_str(item, "name", where, label), _str(item, "image", where, label))
        )
    return Bundle(
        name=_str(doc, "name", where, what),
        package=_str(doc, "package", where, what),
        image=_str(doc, "image", where, what),
        properties=_properties(doc, where, what),
        related_images=related,
    )


def _decode_deprecation(doc: dict[str, Any], where: str, origin: str | None) -> Deprecation:
    what = "olm.deprecations"
    entries: list[DeprecationEntry] = []
    for i, item in enumerate(_list(doc, "entries", where, what)):
        label = f"{what} entries[{i}]"
        if not isinstance(item, dict):
            raise CatalogError(f"{where}: {label} must be an object")
        reference = item.get("reference")
        if reference is None:
            reference = {}
        if not isinstance(reference, dict):
            raise CatalogError(f"{where}: {label} field 'reference' must be an object")
        entries.append(
            DeprecationEntry(
                schema=_str(reference, "schema", where, f"{label} reference"),
                name=_str(reference, "name", where, f"{label} reference"),
                message=_str(item, "message", where, label),
            )
        )
    return Deprecation(_str(doc, "package", where, what), entries, origin)


def decode_doc(doc: Any, where: str, origin: str | None = None) -> tuple[str, Doc]:
    """Decode one raw document; returns ``(package name it belongs to, model object)``."""
    schema, package, name = meta_of(doc, where)
    if schema == SCHEMA_PACKAGE:
        pkg = _decode_package(doc, where)
        return pkg.name, pkg
    if schema == SCHEMA_CHANNEL:
        channel = _decode_channel(doc, where)
        return channel.package, channel
    if schema == SCHEMA_BUNDLE:
        bundle = _decode_bundle(doc, where)
        return bundle.package, bundle
    if schema == SCHEMA_DEPRECATIONS:
        deprecation = _decode_deprecation(doc, where, origin)
        return deprecation.package, deprecation
    return package, Other(schema, package, name, doc, origin)


def _props(props: list[Property]) -> list[dict[str, Any]]:
    return [{"type": p.type, "value": p.value} for p in props]


def encode_doc(doc: Doc) -> dict[str, Any]:
    """The JSON object opm writes for a model document (struct field order, omitempty)."""
    if isinstance(doc, Bundle):
        out: dict[str, Any] = {"schema": SCHEMA_BUNDLE}
        if doc.name:
            out["name"] = doc.name
        if doc.package:
            out["package"] = doc.package
        out["image"] = doc.image
        if doc.properties:
            out["properties"] = _props(doc.properties)
        if doc.related_images:
            out["relatedImages"] = [{"name": r.name, "image": r.image} for r in doc.related_images]
        return out
    if isinstance(doc, Channel):
        entries: list[dict[str, Any]] = []
        for entry in doc.entries:
            item: dict[str, Any] = {"name": entry.name}
            if entry.replaces:
                item["replaces"] = entry.replaces
            if entry.skips:
                item["skips"] = entry.skips
            if entry.skip_range:
                item["skipRange"] = entry.skip_range
            entries.append(item)
        out = {"schema": SCHEMA_CHANNEL, "name": doc.name, "package": doc.package}
        out["entries"] = entries
        if doc.properties:
            out["properties"] = _props(doc.properties)
        return out
    if isinstance(doc, Package):
        out = {"schema": SCHEMA_PACKAGE, "name": doc.name, "defaultChannel": doc.default_channel}
        if doc.icon is not None:
            out["icon"] = {"base64data": doc.icon.base64data, "mediatype": doc.icon.mediatype}
        if doc.description:
            out["description"] = doc.description
        if doc.properties:
            out["properties"] = _props(doc.properties)
        return out
    if isinstance(doc, Deprecation):
        dep_entries: list[dict[str, Any]] = []
        for dep in doc.entries:
            reference: dict[str, Any] = {"schema": dep.schema}
            if dep.name:
                reference["name"] = dep.name
            dep_entries.append({"reference": reference, "message": dep.message})
        return {"schema": SCHEMA_DEPRECATIONS, "package": doc.package, "entries": dep_entries}
    return doc.blob
