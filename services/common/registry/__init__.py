"""Registry client and image assembly without a container engine (see ``docs/registry.md``).

Modules, by responsibility: ``reference`` (pull specs), ``mediatypes``, ``digests``,
``manifest`` (exact-bytes manifests), ``imageconfig``, ``auth`` (docker config, Basic, Bearer),
``retry``, ``client`` (HTTP API v2), ``layers`` (reproducible layers), ``unpack`` (safe
extraction) and ``images`` (resolve, inspect, unpack, build-by-append, copy).
"""

from services.common.reference import (
    ImageReference,
    name_without_tag_or_digest,
    parse_reference,
)
from services.common.registry.auth import Credentials, CredentialStore
from services.common.registry.client import RegistryClient, RegistrySettings, TransferStats
from services.common.registry.imageconfig import ConfigChanges, ImageConfig
from services.common.registry.images import SCRATCH, BuildResult, ImageService, PlatformImage
from services.common.registry.layers import (
    Layer,
    LayerDirectory,
    LayerFile,
    LayerSymlink,
    LayerWhiteout,
    build_layer,
    tree_entries,
)
from services.common.registry.manifest import Descriptor, Manifest, Platform
from services.common.registry.mediatypes import ImageFormat
from services.common.registry.retry import RetryPolicy
from services.common.registry.unpack import UnpackLimits, UnpackStats

__all__ = [
    "SCRATCH",
    "BuildResult",
    "ConfigChanges",
    "CredentialStore",
    "Credentials",
    "Descriptor",
    "ImageConfig",
    "ImageFormat",
    "ImageReference",
    "ImageService",
    "Layer",
    "LayerDirectory",
    "LayerFile",
    "LayerSymlink",
    "LayerWhiteout",
    "Manifest",
    "Platform",
    "PlatformImage",
    "RegistryClient",
    "RegistrySettings",
    "RetryPolicy",
    "TransferStats",
    "UnpackLimits",
    "UnpackStats",
    "build_layer",
    "name_without_tag_or_digest",
    "parse_reference",
    "tree_entries",
]
