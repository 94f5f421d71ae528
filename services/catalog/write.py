"""Writing packages in opm's JSON form (``opm migrate`` / ``opm render -o json``).

One package's documents go to ``<package>/catalog.json`` in this order: the ``olm.package``,
channels sorted by name, bundles sorted by name, other schemas (stable-sorted by schema), then
deprecations. Each object is indented with 4 spaces, HTML escaping off, followed by a newline.
The output depends only on the documents, so the same package always yields the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterable

from . import gojson
from .codec import Doc, encode_doc
from .model import Bundle, Channel, Other, PackageDocs

__all__ = [
    "encode_documents",
    "encode_package",
    "package_file",
]


def package_file(name: str) -> str:
    """The catalog-relative path opm writes a package to."""
    return f"{name}/catalog.json"


def encode_documents(docs: Iterable[Doc]) -> bytes:
    """Encode documents in the given order, one indented JSON object per document."""
    parts = [gojson.indent(encode_doc(doc)) + "\n" for doc in docs]
    return "".join(parts).encode("utf-8")


def ordered_documents(docs: PackageDocs) -> list[Doc]:
    """The package's documents in opm's write order (documents kept in aux files excluded)."""
    ordered: list[Doc] = []
    ordered.extend(docs.packages)
    channels: list[Channel] = sorted(docs.channels, key=lambda c: c.name)
    bundles: list[Bundle] = sorted(docs.bundles, key=lambda b: b.name)
    others: list[Other] = sorted(
        (o for o in docs.others if o.origin is None), key=lambda o: o.schema
    )
    ordered.extend(channels)
    ordered.extend(bundles)
    ordered.extend(others)
    ordered.extend(d for d in docs.deprecations if d.origin is None)
    return ordered


def encode_package(docs: PackageDocs) -> bytes:
    """The bytes of ``<package>/catalog.json`` for a package."""
    return encode_documents(ordered_documents(docs))
