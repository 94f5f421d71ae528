"""The image labels and bundle annotations the operator ecosystem reads, in one place.

Bundle images carry the ``operators.operatorframework.io.bundle.*`` labels (and the same keys in
``metadata/annotations.yaml``); index images carry the ``operators.operatorframework.io.index.*``
labels that tell OLM and opm where the catalog lives. The Red Hat delivery labels are IIB's.
"""

from __future__ import annotations

from services.common.errors import CatalogError

__all__ = [
    "BUNDLE_CHANNELS",
    "BUNDLE_DEFAULT_CHANNEL",
    "BUNDLE_MANIFESTS",
    "BUNDLE_METADATA",
    "BUNDLE_PACKAGE",
    "DELIVERY_BUNDLE",
    "INDEX_CONFIGS",
    "INDEX_DATABASE",
    "MAX_LABEL_PATH",
    "OCP_VERSIONS",
    "PINNED",
    "label_path",
]

#: The package a bundle belongs to.
BUNDLE_PACKAGE = "operators.operatorframework.io.bundle.package.v1"
#: Comma-separated channels of a bundle.
BUNDLE_CHANNELS = "operators.operatorframework.io.bundle.channels.v1"
#: The package's default channel, as the bundle declares it.
BUNDLE_DEFAULT_CHANNEL = "operators.operatorframework.io.bundle.channel.default.v1"
#: Where a bundle image keeps its manifests (a path inside the image, ``manifests/`` by default).
BUNDLE_MANIFESTS = "operators.operatorframework.io.bundle.manifests.v1"
#: Where a bundle image keeps its metadata (``metadata/`` by default).
BUNDLE_METADATA = "operators.operatorframework.io.bundle.metadata.v1"

#: The directory of an index image's File-Based Catalog (``/configs``).
INDEX_CONFIGS = "operators.operatorframework.io.index.configs.v1"
#: The path of a legacy index image's SQLite database (``/database/index.db``).
INDEX_DATABASE = "operators.operatorframework.io.index.database.v1"

#: The OpenShift versions a bundle targets (``v4.12``, ``v4.12-v4.14``, ``=v4.12``).
OCP_VERSIONS = "com.redhat.openshift.versions"
#: Whether an image is an operator bundle (YAML-true), on related images.
DELIVERY_BUNDLE = "com.redhat.delivery.operator.bundle"
#: Set by IIB on a regenerated bundle whose related images are pinned by digest.
PINNED = "com.redhat.iib.pinned"


#: The longest path a label may name inside an image.
MAX_LABEL_PATH = 1024


def label_path(label: str, value: str | None, default: str) -> str:
    """The path a label names inside an image, relative to the image root (``/configs`` and
    ``configs/`` both give ``configs``); ``default`` when the label is unset or ``/``.

    Labels come from users: a path that climbs out of the image (``..``), holds a NUL or is
    absurdly long is refused with an error naming the label.
    """
    text = (value or "").strip()
    if len(text) > MAX_LABEL_PATH or "\x00" in text:
        raise CatalogError(f"The {label} label is not a usable path inside the image")
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise CatalogError(f"The {label} label points outside the image: {text[:200]!r}")
    return "/".join(parts) or default
