"""Plain data types of the request store's domain (no I/O)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "FINAL_STATES",
    "ImageList",
    "NewRequest",
    "RequestState",
    "RequestType",
]


class RequestType(enum.IntEnum):
    """IIB's request types with IIB's numbers."""

    GENERIC = 0
    ADD = 1
    RM = 2
    REGENERATE_BUNDLE = 3
    MERGE_INDEX_IMAGE = 4
    CREATE_EMPTY_INDEX = 5
    RECURSIVE_RELATED_BUNDLES = 6
    FBC_OPERATIONS = 7
    ADD_DEPRECATIONS = 8

    @property
    def api_name(self) -> str:
        """The hyphenated name used by the REST API, e.g. ``merge-index-image``."""
        return self.name.lower().replace("_", "-")


class RequestState(enum.IntEnum):
    """IIB's request states with IIB's numbers."""

    IN_PROGRESS = 1
    COMPLETE = 2
    FAILED = 3

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


# Image-valued columns of a request (each stored as a reference to the global image table).
IMAGE_COLUMNS = (
    "binary_image",
    "binary_image_resolved",
    "from_index",
    "from_index_resolved",
    "index_image",
    "index_image_resolved",
    "internal_index_image_copy",
    "internal_index_image_copy_resolved",
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
