"""Media types of the Docker Registry HTTP API v2 and the OCI image/distribution specs."""

from __future__ import annotations

import enum

__all__ = [
    "layer_type_in",
    "ALL_MANIFEST_TYPES",
    "DOCKER_CONFIG",
    "DOCKER_FOREIGN_LAYER",
    "DOCKER_LAYER_GZIP",
    "DOCKER_MANIFEST",
    "DOCKER_MANIFEST_LIST",
    "DOCKER_MANIFEST_V1",
    "DOCKER_MANIFEST_V1_SIGNED",
    "IMAGE_MANIFEST_TYPES",
    "INDEX_TYPES",
    "OCI_CONFIG",
    "OCI_INDEX",
    "OCI_LAYER",
    "OCI_LAYER_GZIP",
    "OCI_LAYER_ZSTD",
    "OCI_MANIFEST",
    "SCHEMA1_TYPES",
    "ImageFormat",
    "is_foreign_layer",
]

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST_V1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_MANIFEST_V1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
_OCI_NONDISTRIBUTABLE_PREFIX = "application/vnd.oci.image.layer.nondistributable.v1.tar"

INDEX_TYPES = frozenset({DOCKER_MANIFEST_LIST, OCI_INDEX})
IMAGE_MANIFEST_TYPES = frozenset({DOCKER_MANIFEST, OCI_MANIFEST})
SCHEMA1_TYPES = frozenset({DOCKER_MANIFEST_V1, DOCKER_MANIFEST_V1_SIGNED})
# Sent as Accept on every manifest GET/HEAD: the registry then returns what it stores, unchanged.
ALL_MANIFEST_TYPES = (
    OCI_INDEX,
    DOCKER_MANIFEST_LIST,
    OCI_MANIFEST,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_V1_SIGNED,
    DOCKER_MANIFEST_V1,
)


class ImageFormat(enum.Enum):
    """The two manifest families; each value knows its manifest, index, config and layer types."""

    DOCKER = "docker"
    OCI = "oci"

    @property
    def manifest_type(self) -> str:
        """Media type of a single-image manifest in this format."""
        return DOCKER_MANIFEST if self is ImageFormat.DOCKER else OCI_MANIFEST

    @property
    def index_type(self) -> str:
        """Media type of a multi-platform manifest (Docker manifest list or OCI index)."""
        return DOCKER_MANIFEST_LIST if self is ImageFormat.DOCKER else OCI_INDEX

    @property
    def config_type(self) -> str:
        """Media type of the image configuration blob."""
        return DOCKER_CONFIG if self is ImageFormat.DOCKER else OCI_CONFIG

    @property
    def layer_gzip_type(self) -> str:
        """Media type of a gzip-compressed tar layer."""
        return DOCKER_LAYER_GZIP if self is ImageFormat.DOCKER else OCI_LAYER_GZIP

    @classmethod
    def of_layer(cls, media_type: str) -> ImageFormat:
        """The format whose manifests name layers with ``media_type``."""
        return cls.DOCKER if media_type.startswith("application/vnd.docker.") else cls.OCI

    @classmethod
    def of(cls, media_type: str) -> ImageFormat:
        """The format a manifest or index media type belongs to."""
        if media_type in (DOCKER_MANIFEST, DOCKER_MANIFEST_LIST):
            return cls.DOCKER
        if media_type in (OCI_MANIFEST, OCI_INDEX):
            return cls.OCI
        raise ValueError(f"no image format for media type {media_type!r}")


def is_foreign_layer(media_type: str) -> bool:
    """True for layers that registries may not hold (Windows foreign / OCI non-distributable)."""
    return media_type == DOCKER_FOREIGN_LAYER or media_type.startswith(_OCI_NONDISTRIBUTABLE_PREFIX)


_DOCKER_LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar"
_LAYER_TYPES = {
    (OCI_LAYER_GZIP, ImageFormat.DOCKER): DOCKER_LAYER_GZIP,
    (OCI_LAYER, ImageFormat.DOCKER): _DOCKER_LAYER_TAR,
    (DOCKER_LAYER_GZIP, ImageFormat.OCI): OCI_LAYER_GZIP,
    (_DOCKER_LAYER_TAR, ImageFormat.OCI): OCI_LAYER,
    (DOCKER_FOREIGN_LAYER, ImageFormat.OCI): f"{_OCI_NONDISTRIBUTABLE_PREFIX}+gzip",
    (f"{_OCI_NONDISTRIBUTABLE_PREFIX}+gzip", ImageFormat.DOCKER): DOCKER_FOREIGN_LAYER,
}


def layer_type_in(media_type: str, fmt: ImageFormat) -> str | None:
    """The media type a layer of ``media_type`` has in a manifest of ``fmt`` (the blob is the
    same), or None when ``fmt`` cannot carry it (a zstd layer in a Docker manifest)."""
    if ImageFormat.of_layer(media_type) is fmt:
        return media_type
    return _LAYER_TYPES.get((media_type, fmt))
