"""Manifests kept as the exact bytes the registry holds, plus a parsed view of them.

A manifest's digest is the digest of its raw bytes, so nothing here ever re-serialises a manifest
that came from a registry. New manifests are serialised once by ``encode_json`` and pushed as
those bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from services.common.registry import mediatypes as mt
from services.common.registry.digests import compute_digest
from services.common.registry.errors import UnsupportedManifestError

__all__ = [
    "MAX_LAYERS",
    "MAX_LIST_ENTRIES",
    "Descriptor",
    "Manifest",
    "Platform",
    "encode_json",
    "image_manifest_bytes",
    "index_manifest_bytes",
]


def encode_json(document: Mapping[str, Any]) -> bytes:
    """Serialise a document the way this project pushes it: compact, key order as given."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class Platform:
    """An entry's platform in a manifest list / OCI index (or an image config's os/arch)."""

    os: str
    architecture: str
    variant: str | None = None
    os_version: str | None = None
    os_features: tuple[str, ...] = ()
    features: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Platform:
        """Build from the ``platform`` object of a list entry (or an image config)."""
        return cls(
            os=str(data.get("os", "")),
            architecture=str(data.get("architecture", "")),
            variant=data.get("variant") or None,
            os_version=data.get("os.version") or None,
            os_features=tuple(data.get("os.features") or ()),
            features=tuple(data.get("features") or ()),
        )

    def to_json(self) -> dict[str, Any]:
        """The ``platform`` object (``architecture`` first, as Docker and buildah write it)."""
        data: dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        if self.os_version:
            data["os.version"] = self.os_version
        if self.os_features:
            data["os.features"] = list(self.os_features)
        if self.variant:
            data["variant"] = self.variant
        if self.features:
            data["features"] = list(self.features)
        return data

    @property
    def key(self) -> str:
        """``os/architecture[/variant]``, e.g. ``linux/arm64/v8``."""
        parts = [self.os, self.architecture] + ([self.variant] if self.variant else [])
        return "/".join(parts)


@dataclass(frozen=True)
class Descriptor:
    """A content descriptor: media type, digest, size (+ platform, annotations, urls).

    ``raw`` keeps the JSON object it was read from, so re-emitting a base image's layer list
    preserves fields this module does not model.
    """

    media_type: str
    digest: str
    size: int
    platform: Platform | None = None
    annotations: Mapping[str, str] | None = None
    urls: tuple[str, ...] = ()
    raw: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Descriptor:
        """Parse a descriptor object from a manifest."""
        platform = data.get("platform")
        return cls(
            media_type=str(data.get("mediaType", "")),
            digest=str(data["digest"]),
            size=int(data["size"]),
            platform=Platform.from_json(platform) if isinstance(platform, Mapping) else None,
            annotations=dict(data["annotations"]) if data.get("annotations") else None,
            urls=tuple(data.get("urls") or ()),
            raw=dict(data),
        )

    def to_json(self) -> dict[str, Any]:
        """The descriptor object; the original object unchanged when it came from a manifest."""
        if self.raw is not None:
            return dict(self.raw)
        data: dict[str, Any] = {
            "mediaType": self.media_type,
            "size": self.size,
            "digest": self.digest,
        }
        if self.urls:
            data["urls"] = list(self.urls)
        if self.annotations:
            data["annotations"] = dict(self.annotations)
        if self.platform is not None:
            data["platform"] = self.platform.to_json()
        return data


#: Most entries of a manifest list / OCI index (each may be fetched with its config; real lists
#: have a few architectures, twice that with attestations).
MAX_LIST_ENTRIES = 256

#: Most layers of an image manifest (Docker's own limit is 127).
MAX_LAYERS = 1000


@dataclass(frozen=True)
class Manifest:
    """A manifest of any supported type: exact ``raw`` bytes, ``media_type`` and ``digest``."""

    raw: bytes
    media_type: str
    digest: str

    @classmethod
    def parse(
        cls, raw: bytes, content_type: str | None = None, digest: str | None = None
    ) -> Manifest:
        """Wrap raw manifest bytes.

        The media type is the document's ``mediaType``, else the response ``Content-Type``, else
        inferred from the shape (``manifests`` → OCI index, ``config`` → OCI manifest). The digest
        is computed from ``raw`` unless given (schema 1 signed manifests: the registry's digest).
        """
        try:
            document = json.loads(raw)
        except ValueError as exc:
            raise UnsupportedManifestError(f"The manifest is not valid JSON: {exc}") from exc
        except RecursionError:
            raise UnsupportedManifestError("The manifest is nested too deeply") from None
        if not isinstance(document, dict):
            raise UnsupportedManifestError("The manifest is not a JSON object")
        media_type = document.get("mediaType")
        if not media_type:
            header = (content_type or "").split(";", 1)[0].strip()
            if header and header not in ("application/json", "text/plain"):
                media_type = header
            elif document.get("schemaVersion") == 1:
                media_type = (
                    mt.DOCKER_MANIFEST_V1_SIGNED
                    if "signatures" in document
                    else mt.DOCKER_MANIFEST_V1
                )
            elif "manifests" in document:
                media_type = mt.OCI_INDEX
            else:
                media_type = mt.OCI_MANIFEST
        return cls(raw=raw, media_type=str(media_type), digest=digest or compute_digest(raw))

    @cached_property
    def json(self) -> dict[str, Any]:
        """The parsed document (read-only by convention: never re-serialise it to push)."""
        document = json.loads(self.raw)
        assert isinstance(document, dict)
        return document

    @property
    def schema_version(self) -> int | None:
        """``schemaVersion`` of the document."""
        value = self.json.get("schemaVersion")
        return int(value) if isinstance(value, int) else None

    @property
    def has_media_type_field(self) -> bool:
        """True when the document itself carries ``mediaType`` (IIB requires it for bundles)."""
        return "mediaType" in self.json

    @property
    def is_index(self) -> bool:
        """True for a Docker manifest list or an OCI index."""
        return self.media_type in mt.INDEX_TYPES

    @property
    def is_image(self) -> bool:
        """True for a single-image Docker v2 schema 2 or OCI manifest."""
        return self.media_type in mt.IMAGE_MANIFEST_TYPES

    @property
    def is_schema1(self) -> bool:
        """True for the deprecated Docker v2 schema 1 manifests."""
        return self.media_type in mt.SCHEMA1_TYPES

    @property
    def format(self) -> mt.ImageFormat:
        """Docker or OCI (``UnsupportedManifestError`` for schema 1 and unknown types)."""
        try:
            return mt.ImageFormat.of(self.media_type)
        except ValueError:
            raise UnsupportedManifestError(
                f"Unsupported manifest media type {self.media_type}"
            ) from None

    @property
    def config(self) -> Descriptor:
        """The config descriptor of an image manifest."""
        if not self.is_image:
            raise UnsupportedManifestError(f"A {self.media_type} manifest has no config")
        return Descriptor.from_json(self.json["config"])

    @property
    def layers(self) -> list[Descriptor]:
        """The layer descriptors of an image manifest, base layer first."""
        if not self.is_image:
            raise UnsupportedManifestError(f"A {self.media_type} manifest has no layers")
        layers = self.json.get("layers") or []
        if len(layers) > MAX_LAYERS:
            raise UnsupportedManifestError(
                f"The image {self.digest} has {len(layers)} layers, more than {MAX_LAYERS}"
            )
        return [Descriptor.from_json(layer) for layer in layers]

    @property
    def manifests(self) -> list[Descriptor]:
        """The entries of a manifest list / OCI index, in document order."""
        if not self.is_index:
            raise UnsupportedManifestError(f"A {self.media_type} manifest is not a list")
        entries = self.json.get("manifests") or []
        if len(entries) > MAX_LIST_ENTRIES:
            raise UnsupportedManifestError(
                f"The manifest list {self.digest} has {len(entries)} entries, more than "
                f"{MAX_LIST_ENTRIES}"
            )
        return [Descriptor.from_json(entry) for entry in entries]

    def descriptor(self, platform: Platform | None = None) -> Descriptor:
        """A descriptor pointing at this manifest (for a list entry, with ``platform``)."""
        return Descriptor(self.media_type, self.digest, len(self.raw), platform=platform)


def image_manifest_bytes(
    fmt: mt.ImageFormat,
    config: Descriptor,
    layers: Sequence[Descriptor],
    annotations: Mapping[str, str] | None = None,
) -> bytes:
    """Serialise a Docker v2 schema 2 or OCI image manifest."""
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": fmt.manifest_type,
        "config": config.to_json(),
        "layers": [layer.to_json() for layer in layers],
    }
    if annotations and fmt is mt.ImageFormat.OCI:
        document["annotations"] = dict(annotations)
    return encode_json(document)


def index_manifest_bytes(
    fmt: mt.ImageFormat,
    manifests: Sequence[Descriptor],
    annotations: Mapping[str, str] | None = None,
) -> bytes:
    """Serialise a Docker manifest list or an OCI index; entries must carry a platform."""
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": fmt.index_type,
        "manifests": [entry.to_json() for entry in manifests],
    }
    if annotations and fmt is mt.ImageFormat.OCI:
        document["annotations"] = dict(annotations)
    return encode_json(document)
