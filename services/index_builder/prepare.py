"""What every index build decides before touching a catalog (IIB's prepare_request_for_build,
worker semantics §0.3): resolved index images, OCP version, distribution scope, binary image and
architectures. The decisions are pure functions; :func:`prepare_build` does the registry reads."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from services.common.errors import IIBError
from services.common.registry.images import ImageService

__all__ = [
    "DELIVERY_SCOPE_LABEL",
    "DELIVERY_VERSION_LABEL",
    "BuildPlan",
    "IndexInfo",
    "choose_binary_image",
    "index_info",
    "prepare_build",
    "prepare_merge",
    "resolve_scope",
]

DELIVERY_VERSION_LABEL = "com.redhat.index.delivery.version"
DELIVERY_SCOPE_LABEL = "com.redhat.index.delivery.distribution_scope"
SCRATCH = "scratch"
_SCOPES = ("dev", "stage", "prod")


@dataclass
class IndexInfo:
    """An input index image: resolved spec, arches, OCP version and scope labels."""

    pull_spec: str | None
    resolved: str | None = None
    arches: set[str] = field(default_factory=set)
    ocp_version: str = "v4.5"
    distribution_scope: str = "prod"


@dataclass
class BuildPlan:
    """The outcome of preparation."""

    arches: set[str]
    binary_image: str
    binary_image_resolved: str
    distribution_scope: str
    index: IndexInfo

    @property
    def binaryless(self) -> bool:
        return self.binary_image == SCRATCH

    @property
    def arches_text(self) -> str:
        return ", ".join(sorted(self.arches))


def index_info(images: ImageService, pull_spec: str | None, default_ocp: str = "v4.5") -> IndexInfo:
    """IIB's get_index_image_info: resolve the index and read its delivery labels."""
    info = IndexInfo(pull_spec, ocp_version=default_ocp)
    if not pull_spec:
        return info
    info.resolved = images.resolve(pull_spec)
    info.arches = images.get_image_arches(info.resolved)
    labels = images.get_image_labels(info.resolved)
    info.ocp_version = labels.get(DELIVERY_VERSION_LABEL) or "v4.5"
    info.distribution_scope = labels.get(DELIVERY_SCOPE_LABEL) or "prod"
    return info


def resolve_scope(index_scope: str, requested: str | None) -> str:
    """The request's scope may only be the index's or lower (dev < stage < prod)."""
    if not requested:
        return index_scope
    if index_scope not in _SCOPES:
        raise IIBError(
            f"The from_index has an unknown {DELIVERY_SCOPE_LABEL} label value {index_scope!r}: "
            f"it must be one of {', '.join(_SCOPES)}"
        )
    if _SCOPES.index(requested) > _SCOPES.index(index_scope):
        raise IIBError(
            f'Cannot set "distribution_scope" to {requested} because from index is already set '
            f"to {index_scope}"
        )
    return requested


def choose_binary_image(
    requested: str | None, config: dict[str, dict[str, str]], scope: str, ocp_version: str
) -> str:
    """IIB's binary image rule: the request's, else IIB_BINARY_IMAGE_CONFIG[scope][ocp_version];
    ``scratch`` must agree with the configuration."""
    configured = config.get(scope, {}).get(ocp_version)
    if not requested:
        if not configured:
            raise IIBError(
                "IIB does not have a configured binary_image for distribution_scope : "
                f"{scope} and ocp_version: {ocp_version}. Please specify a binary_image value in "
                "the request."
            )
        return configured
    if requested == SCRATCH and configured != SCRATCH:
        raise IIBError(f"The index image should not be binaryless for {ocp_version}.")
    if requested != SCRATCH and configured == SCRATCH:
        raise IIBError(f"The index image must be built as a binaryless for {ocp_version}.")
    return requested


def prepare_build(
    images: ImageService,
    *,
    from_index: str | None,
    binary_image: str | None,
    add_arches: list[str],
    distribution_scope: str | None,
    binary_image_config_json: str,
) -> BuildPlan:
    """Resolve the index, pick the binary image, and compute the architectures to build."""
    info = index_info(images, from_index)
    return _plan(
        images, info, set(add_arches), binary_image, distribution_scope, binary_image_config_json
    )


def prepare_merge(
    images: ImageService,
    *,
    source_from_index: str,
    target_index: str | None,
    binary_image: str | None,
    distribution_scope: str | None,
    binary_image_config_json: str,
) -> tuple[BuildPlan, IndexInfo]:
    """merge-index-image's preparation: the plan is the target index's (scope, OCP version,
    binary image; IIB's "request index"), the arches are both indexes'. Returns the plan and
    the source index."""
    source = index_info(images, source_from_index, "v4.5")
    target = index_info(images, target_index, "v4.6")
    plan = _plan(
        images, target, source.arches, binary_image, distribution_scope, binary_image_config_json
    )
    return plan, source


def _plan(
    images: ImageService,
    info: IndexInfo,
    extra_arches: set[str],
    binary_image: str | None,
    distribution_scope: str | None,
    binary_image_config_json: str,
) -> BuildPlan:
    scope = resolve_scope(info.distribution_scope, distribution_scope)
    config = json.loads(binary_image_config_json or "{}")
    binary = choose_binary_image(binary_image, config, scope, info.ocp_version)
    if binary == SCRATCH:
        arches = {"amd64"}
        binary_resolved = SCRATCH
        binary_arches = arches
    else:
        arches = extra_arches | info.arches
        if not arches:
            raise IIBError("No arches were provided to build the index image")
        binary_resolved = images.resolve(binary)
        binary_arches = images.get_image_arches(binary_resolved)
    missing = arches - binary_arches
    if missing:
        raise IIBError(
            "The binary image is not available for the following arches: "
            + ", ".join(sorted(missing))
        )
    return BuildPlan(arches, binary, binary_resolved, scope, info)
