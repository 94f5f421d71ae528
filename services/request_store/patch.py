"""Validation of request updates (IIB's PATCH /builds/<id>, contract §5). No I/O.

The same rules apply to the REST PATCH and to the typed ``RequestStore.UpdateJob`` gRPC
method, which converts its message to the same payload first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.common.errors import FinalStateError, ValidationError
from services.request_store.domain import FINAL_STATES, RequestState, RequestType
from services.request_store.validation import check_pull_spec

__all__ = ["PatchPlan", "check_patch_body", "mutable_keys", "plan_patch"]

_BASE = {"arches", "state", "state_reason"}
_INDEX = {
    "binary_image",
    "binary_image_resolved",
    "distribution_scope",
    "from_bundle_image_resolved",
    "from_index_resolved",
    "index_image",
    "index_image_resolved",
    "internal_index_image_copy",
    "internal_index_image_copy_resolved",
}
_MUTABLE: dict[RequestType, frozenset[str]] = {
    RequestType.ADD: frozenset(
        _BASE | _INDEX | {"bundles", "bundle_mapping", "omps_operator_version"}
    ),
    RequestType.RM: frozenset(_BASE | _INDEX),
    RequestType.ADD_DEPRECATIONS: frozenset(_BASE | _INDEX),
    RequestType.FBC_OPERATIONS: frozenset(
        _BASE
        | _INDEX
        | {"fbc_fragments", "fbc_fragments_resolved", "fbc_fragment", "fbc_fragment_resolved"}
    ),
    # deviation: IIB meant to add "labels" here but added the letters l, a, b, e, s; we add
    # neither (workers never patch labels).
    RequestType.CREATE_EMPTY_INDEX: frozenset(
        _BASE
        | _INDEX
        - {"from_bundle_image_resolved", "internal_index_image_copy"}
        - {"internal_index_image_copy_resolved"}
    ),
    RequestType.REGENERATE_BUNDLE: frozenset(
        _BASE | {"bundle_image", "from_bundle_image_resolved", "bundle_replacements"}
    ),
    RequestType.MERGE_INDEX_IMAGE: frozenset(
        _BASE
        | {
            "binary_image",
            "binary_image_resolved",
            "distribution_scope",
            "index_image",
            "source_from_index_resolved",
            "target_index_resolved",
        }
    ),
    RequestType.RECURSIVE_RELATED_BUNDLES: frozenset(_BASE | {"parent_bundle_image_resolved"}),
    RequestType.GENERIC: frozenset(_BASE),
}
# IIB's order of image-valued keys (the first bad pull spec in this order is reported).
_IMAGE_KEYS = (
    "binary_image",
    "binary_image_resolved",
    "bundle_image",
    "from_bundle_image_resolved",
    "from_index_resolved",
    "fbc_fragment",
    "fbc_fragment_resolved",
    "index_image",
    "index_image_resolved",
    "internal_index_image_copy",
    "internal_index_image_copy_resolved",
    "parent_bundle_image_resolved",
    "source_from_index_resolved",
    "target_index_resolved",
)
_STATE_NAMES = {s.api_name: s for s in RequestState}


def mutable_keys(request_type: RequestType) -> frozenset[str]:
    """The keys a PATCH may set on a request of this type."""
    return _MUTABLE[request_type]


@dataclass
class PatchPlan:
    """The validated effect of an update."""

    state: RequestState | None = None
    state_reason: str | None = None
    images: dict[str, str] = field(default_factory=dict)
    arches: list[str] = field(default_factory=list)
    bundle_mapping: dict[str, list[str]] = field(default_factory=dict)
    scalars: dict[str, Any] = field(default_factory=dict)
    fbc_fragments_resolved: list[str] | None = None


def check_patch_body(payload: Any) -> dict[str, Any]:
    """The checks IIB makes before looking the request up."""
    if not isinstance(payload, dict):
        raise ValidationError("The input data must be a JSON object")
    if not payload:
        raise ValidationError("At least one key must be specified to update the request")
    return payload


def _str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v for v in value)


def plan_patch(
    payload: dict[str, Any],
    request_type: RequestType,
    current_state: RequestState,
    current_reason: str,
) -> PatchPlan:
    """Validate ``payload`` against a request's type and state, in IIB's order.

    An identical state and reason is not recorded again (IIB intended this but its guard never
    fires; see docs/compatibility.md).
    """
    invalid = payload.keys() - mutable_keys(request_type)
    if invalid:
        raise ValidationError(f"The following keys are not allowed: {', '.join(sorted(invalid))}")
    for key, value in payload.items():
        if key == "arches":
            if not _str_list(value):
                raise ValidationError(
                    "Architectures should be specified as a non-empty array of strings"
                )
        elif key == "bundle_mapping":
            if not isinstance(value, dict) or any(
                not isinstance(v, list) or any(not isinstance(s, str) for s in v)
                for v in value.values()
            ):
                raise ValidationError(
                    f'The "{key}" key must be an object with the values as lists of strings'
                )
        elif key in ("recursive_related_bundles", "fbc_fragments_resolved"):
            # deviation: IIB answers 500 to a non-string item; we answer this 400.
            if not isinstance(value, list) or any(not isinstance(v, str) for v in value):
                raise ValidationError(f'The value for "{key}" must be a list of non-empty strings')
        elif key == "bundle_replacements":
            if not isinstance(value, dict) or any(
                not isinstance(k, str) or not isinstance(v, str) for k, v in value.items()
            ):
                raise ValidationError(
                    f'The "{key}" key must be a dictionary object mapping from strings to strings'
                )
        elif not value or not isinstance(value, str):
            raise ValidationError(f'The value for "{key}" must be a non-empty string')

    if "state" in payload and "state_reason" not in payload:
        raise ValidationError('The "state_reason" key is required when "state" is supplied')
    if "state_reason" in payload and "state" not in payload:
        raise ValidationError('The "state" key is required when "state_reason" is supplied')

    plan = PatchPlan()
    if "state" in payload:
        new_state = _STATE_NAMES.get(payload["state"])
        if new_state is None:
            raise ValidationError(
                f"{payload['state']} is not a valid build request state. Valid states are: "
                "complete, failed, in_progress"
            )
        if current_state in FINAL_STATES and new_state != current_state:
            raise FinalStateError(current_state.api_name)
        if (new_state, payload["state_reason"]) != (current_state, current_reason):
            plan.state = new_state
            plan.state_reason = payload["state_reason"]

    if "omps_operator_version" in payload:
        plan.scalars["omps_operator_version"] = payload["omps_operator_version"]
    for key in _IMAGE_KEYS:
        if key in payload:
            plan.images[key] = check_pull_spec(payload[key])
    plan.arches = list(dict.fromkeys(payload.get("arches", [])))
    for operator, bundles in payload.get("bundle_mapping", {}).items():
        plan.bundle_mapping[operator] = [check_pull_spec(b) for b in bundles]
    if "distribution_scope" in payload:
        plan.scalars["distribution_scope"] = payload["distribution_scope"]
    if "fbc_fragments_resolved" in payload:
        plan.fbc_fragments_resolved = [
            check_pull_spec(f) for f in payload["fbc_fragments_resolved"]
        ]
    return plan
