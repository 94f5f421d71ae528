"""Plain data types of the request store's domain (no I/O)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from services.common.pb.iib.v1 import requests_pb2

__all__ = [
    "FINAL_STATES",
    "ImageList",
    "NewRequest",
    "RequestState",
    "RequestType",
]


class RequestType(enum.IntEnum):
    """IIB's request types with IIB's numbers; the values are ``iib.v1.RequestType``'s."""

    GENERIC = requests_pb2.REQUEST_TYPE_UNSPECIFIED
    ADD = requests_pb2.REQUEST_TYPE_ADD
    RM = requests_pb2.REQUEST_TYPE_RM
    REGENERATE_BUNDLE = requests_pb2.REQUEST_TYPE_REGENERATE_BUNDLE
    MERGE_INDEX_IMAGE = requests_pb2.REQUEST_TYPE_MERGE_INDEX_IMAGE
    CREATE_EMPTY_INDEX = requests_pb2.REQUEST_TYPE_CREATE_EMPTY_INDEX
    RECURSIVE_RELATED_BUNDLES = requests_pb2.REQUEST_TYPE_RECURSIVE_RELATED_BUNDLES
    FBC_OPERATIONS = requests_pb2.REQUEST_TYPE_FBC_OPERATIONS
    ADD_DEPRECATIONS = requests_pb2.REQUEST_TYPE_ADD_DEPRECATIONS

    @property
    def api_name(self) -> str:
        """The hyphenated name used by the REST API, e.g. ``merge-index-image``."""
        return self.name.lower().replace("_", "-")


class RequestState(enum.IntEnum):
    """IIB's request states with IIB's numbers; the values are ``iib.v1.RequestState``'s."""

    IN_PROGRESS = requests_pb2.REQUEST_STATE_IN_PROGRESS
    COMPLETE = requests_pb2.REQUEST_STATE_COMPLETE
    FAILED = requests_pb2.REQUEST_STATE_FAILED

    @property
    def api_name(self) -> str:
        return self.name.lower()


FINAL_STATES = frozenset({RequestState.COMPLETE, RequestState.FAILED})


class ImageList(enum.IntEnum):
    """Ordered image lists a request can hold (stored in one association table)."""

    BUNDLES = 1
    DEPRECATION_LIST = 2
    FBC_FRAGMENTS = 3
    FBC_FRAGMENTS_RESOLVED = 4


# The image columns of a request that builds an index.
INDEX_IMAGE_COLUMNS = (
    "binary_image",
    "binary_image_resolved",
    "from_index",
    "from_index_resolved",
    "index_image",
    "index_image_resolved",
    "internal_index_image_copy",
    "internal_index_image_copy_resolved",
)

# Image-valued columns of a request (each stored as a reference to the global image table).
IMAGE_COLUMNS = (
    *INDEX_IMAGE_COLUMNS,
    "bundle_image",
    "from_bundle_image",
    "from_bundle_image_resolved",
    "source_from_index",
    "source_from_index_resolved",
    "target_index",
    "target_index_resolved",
    "parent_bundle_image",
    "parent_bundle_image_resolved",
    "fbc_fragment",
    "fbc_fragment_resolved",
)

#: The request's other columns that its JSON shows (``NewRequest.scalars``, a view's scalars).
SCALAR_COLUMNS = (
    "organization",
    "omps_operator_version",
    "distribution_scope",
    "graph_update_mode",
    "check_related_images",
    "ignore_bundle_ocp_version",
    "used_fbc_fragment",
    "bundle_replacements",
    "labels",
)


@dataclass
class NewRequest:
    """A validated submission, ready to be stored.

    ``images`` maps image columns to pull specs, ``scalars`` the other stored columns; lists keep
    their order. ``secrets`` are stored encrypted only. ``worker_args`` are inputs the worker needs
    that IIB does not echo (``add_arches``, ``overwrite_from_index``, ``output_fbc`` ...).
    """

    type: RequestType
    images: dict[str, str] = field(default_factory=dict)
    scalars: dict[str, Any] = field(default_factory=dict)
    image_lists: dict[ImageList, list[str]] = field(default_factory=dict)
    operators: list[str] = field(default_factory=list)
    operator_package: str | None = None
    deprecation_schema: str | None = None
    build_tags: list[str] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)
    worker_args: dict[str, Any] = field(default_factory=dict)
    # Queue routing inputs: a serial request writes ``serial_index`` (IIB: overwrite_from_index /
    # overwrite_target_index); ``queue_index`` is the pull spec IIB_USER_TO_QUEUE dicts are keyed on.
    serial: bool = False
    serial_index: str | None = None
    queue_index: str | None = None
