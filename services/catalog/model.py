"""The wire model: File-Based Catalog documents as opm's ``declcfg`` defines them.

Known schemas (``olm.package``, ``olm.channel``, ``olm.bundle``, ``olm.deprecations``) are
decoded into the dataclasses below; any other schema is an :class:`Other` whose JSON object
is kept verbatim and written back unchanged. Property values stay the JSON values they were
loaded as (no per-property typing), so loading and re-writing a bundle costs no re-encoding.

A :class:`PackageDocs` holds every document of one package; catalogs are processed one
package at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "SCHEMA_BUNDLE",
    "SCHEMA_CHANNEL",
    "SCHEMA_DEPRECATIONS",
    "SCHEMA_PACKAGE",
    "Bundle",
    "BundleRef",
    "Channel",
    "ChannelEntry",
    "Deprecation",
    "DeprecationEntry",
    "Icon",
    "Other",
    "Package",
    "PackageDocs",
    "PackageSummary",
    "Property",
    "RelatedImage",
]

SCHEMA_PACKAGE = "olm.package"
SCHEMA_CHANNEL = "olm.channel"
SCHEMA_BUNDLE = "olm.bundle"
SCHEMA_DEPRECATIONS = "olm.deprecations"

PROP_PACKAGE = "olm.package"
PROP_PACKAGE_REQUIRED = "olm.package.required"
PROP_GVK = "olm.gvk"
PROP_GVK_REQUIRED = "olm.gvk.required"
PROP_BUNDLE_OBJECT = "olm.bundle.object"
PROP_CSV_METADATA = "olm.csv.metadata"
PROP_MAX_OCP = "olm.maxOpenShiftVersion"
PROP_DEPRECATED = "olm.deprecated"


@dataclass(slots=True)
class Property:
    """A ``{type, value}`` property; ``value`` is any JSON value, kept as loaded."""

    type: str
    value: Any


@dataclass(slots=True)
class Icon:
    """A package icon; ``base64data`` is standard base64 with padding (as Go writes ``[]byte``)."""

    base64data: str
    mediatype: str


@dataclass(slots=True)
class Package:
    """An ``olm.package`` document."""

    name: str
    default_channel: str = ""
    icon: Icon | None = None
    description: str = ""
    properties: list[Property] = field(default_factory=list)


@dataclass(slots=True)
class ChannelEntry:
    """One entry of an ``olm.channel``: a bundle name and its upgrade edges."""

    name: str
    replaces: str = ""
    skips: list[str] = field(default_factory=list)
    skip_range: str = ""


@dataclass(slots=True)
class Channel:
    """An ``olm.channel`` document."""

    name: str
    package: str
    entries: list[ChannelEntry] = field(default_factory=list)
    properties: list[Property] = field(default_factory=list)


@dataclass(slots=True)
class RelatedImage:
    """A bundle's related image (``name`` may be empty)."""

    name: str
    image: str


@dataclass(slots=True)
class Bundle:
    """An ``olm.bundle`` document."""

    name: str
    package: str
    image: str = ""
    properties: list[Property] = field(default_factory=list)
    related_images: list[RelatedImage] = field(default_factory=list)

    def version(self) -> str | None:
        """The ``version`` of the single well-formed ``olm.package`` property, else ``None``."""
        found: str | None = None
        count = 0
        for prop in self.properties:
            if prop.type == PROP_PACKAGE:
                count += 1
                value = prop.value
                if isinstance(value, dict) and isinstance(value.get("version"), str):
                    found = value["version"]
        return found if count == 1 else None


@dataclass(slots=True)
class DeprecationEntry:
    """One entry of an ``olm.deprecations`` document."""

    schema: str
    name: str
    message: str


@dataclass(slots=True)
class Deprecation:
    """An ``olm.deprecations`` document.

    ``origin`` is the catalog-relative path of the file it was loaded from when that file is
    kept verbatim (IIB's ``_operator-deprecations-content/<pkg>/<pkg>.json``), else ``None``.
    """

    package: str
    entries: list[DeprecationEntry] = field(default_factory=list)
    origin: str | None = None


@dataclass(slots=True)
class Other:
    """A document of a schema opm does not interpret; ``blob`` is written back verbatim."""

    schema: str
    package: str
    name: str
    blob: dict[str, Any]
    origin: str | None = None


@dataclass(slots=True)
class PackageDocs:
    """Every document of one package, plus files of that package kept byte for byte.

    ``aux_files`` maps catalog-relative paths (e.g.
    ``_operator-deprecations-content/<pkg>/<pkg>.json``) to their exact bytes; documents
    loaded from them carry that path as ``origin`` and are not re-emitted elsewhere.
    """

    name: str
    packages: list[Package] = field(default_factory=list)
    channels: list[Channel] = field(default_factory=list)
    bundles: list[Bundle] = field(default_factory=list)
    deprecations: list[Deprecation] = field(default_factory=list)
    others: list[Other] = field(default_factory=list)
    aux_files: dict[str, bytes] = field(default_factory=dict)

    @property
    def package(self) -> Package | None:
        """The package's ``olm.package`` document (the first, if duplicated)."""
        return self.packages[0] if self.packages else None

    def is_empty(self) -> bool:
        """True when the package has no documents at all (aux files included)."""
        return not (
            self.packages
            or self.channels
            or self.bundles
            or self.deprecations
            or self.others
            or self.aux_files
        )

    def bundle(self, name: str) -> Bundle | None:
        """The bundle named ``name`` (first one if duplicated), else ``None``."""
        for bundle in self.bundles:
            if bundle.name == name:
                return bundle
        return None

    def channel(self, name: str) -> Channel | None:
        """The channel named ``name`` (first one if duplicated), else ``None``."""
        for channel in self.channels:
            if channel.name == name:
                return channel
        return None


@dataclass(frozen=True, slots=True)
class BundleRef:
    """What other packages need to know about a bundle without loading its package."""

    package: str
    name: str
    image: str
    version: str


@dataclass(frozen=True, slots=True)
class PackageSummary:
    """A light digest of one package, kept for every package of an opened catalog.

    ``edge_names`` holds every bundle name that appears in the package's channels as an entry,
    a ``replaces`` or a ``skips`` target (opm's cross-package edge check needs them all).
    """

    name: str
    bundles: tuple[BundleRef, ...] = ()
    edge_names: frozenset[str] = frozenset()

    @staticmethod
    def of(docs: PackageDocs) -> PackageSummary:
        """Summarise a loaded package."""
        names: set[str] = set()
        for channel in docs.channels:
            for entry in channel.entries:
                names.add(entry.name)
                if entry.replaces:
                    names.add(entry.replaces)
                names.update(entry.skips)
        refs = tuple(BundleRef(docs.name, b.name, b.image, b.version() or "") for b in docs.bundles)
        return PackageSummary(docs.name, refs, frozenset(names))
