"""Validation of IIB submissions, in IIB's evaluation order and with IIB's exact messages.

Pure functions: each takes the decoded JSON body and a :class:`ValidationContext` and returns a
:class:`NewRequest` (or a list of them for batches) or raises ``ValidationError`` /
``ForbiddenError``. Where IIB answers 500 to bad input we answer 400 naming the field; every such
deviation is listed in ``docs/compatibility.md`` (search for "deviation" below).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.common.errors import ForbiddenError, ValidationError
from services.request_store.domain import ImageList, NewRequest, RequestType

__all__ = [
    "ValidationContext",
    "check_pull_spec",
    "validate_add",
    "validate_add_deprecations",
    "validate_add_rm_batch",
    "validate_create_empty_index",
    "validate_fbc_operations",
    "validate_merge_index_image",
    "validate_recursive_related_bundles",
    "validate_regenerate_bundle",
    "validate_regenerate_bundle_batch",
    "validate_rm",
]

NOT_A_DICT = "The input data must be a JSON object"
_INDEX_OPTIONAL = (
    "add_arches",
    "binary_image",
    "overwrite_from_index",
    "overwrite_from_index_token",
    "distribution_scope",
    "build_tags",
)
_SCOPES = ("prod", "stage", "dev")


@dataclass(frozen=True)
class ValidationContext:
    """What validation needs to know besides the body."""

    authenticated: bool
    binary_image_config_set: bool
    graph_mode_options: tuple[str, ...] = ("replaces", "semver", "semver-skippatch")
    graph_mode_index_allow_list: tuple[str, ...] = ()


def check_pull_spec(value: str) -> str:
    """IIB's rule for every image-valued input: a tag or a digest, or exactly ``scratch``."""
    if "@" not in value and ":" not in value and value != "scratch":
        raise ValidationError(f"Image {value} should have a tag or a digest specified.")
    return value


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(item and isinstance(item, str) for item in value)


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def validate_request_params(
    payload: dict[str, Any], required: set[str], optional: set[str]
) -> None:
    """IIB's ``validate_request_params``: missing, unknown, empty-required; drops empty optionals.

    Several names in one message are sorted (IIB joins a set, so its order is undefined).
    """
    missing = required - payload.keys()
    if missing:
        raise ValidationError(f"Missing required parameter(s): {', '.join(sorted(missing))}")
    invalid = payload.keys() - required - optional
    if invalid:
        raise ValidationError(f"The following parameters are invalid: {', '.join(sorted(invalid))}")
    for param in sorted(required):
        if not payload.get(param):
            raise ValidationError(f'"{param}" must be set')
    for param in optional:
        if param in payload and not isinstance(payload[param], bool) and not payload[param]:
            del payload[param]


def _validate_graph_mode(mode: Any, index: Any, ctx: ValidationContext) -> None:
    if not mode:
        return
    if mode not in ctx.graph_mode_options:
        raise ValidationError(
            f'"graph_update_mode" must be set to one of these: {list(ctx.graph_mode_options)}'
        )
    allow = ctx.graph_mode_index_allow_list
    if index not in allow and (not isinstance(index, str) or index.split(":")[0] not in allow):
        raise ForbiddenError(
            f'"graph_update_mode" can only be used on the following index image: {list(allow)}'
        )


def _validate_scope(value: Any) -> str | None:
    if not value:
        return None
    # deviation: IIB crashes (500) on a non-string scope; we answer IIB's 400 message.
    scope = value.lower() if isinstance(value, str) else None
    if scope not in _SCOPES:
        raise ValidationError(
            'The "distribution_scope" value must be one of "dev", "stage", or "prod"'
        )
    return scope


def _validate_binary_image(value: Any, ctx: ValidationContext) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValidationError('The "binary_image" value must be a string')
    if not value and not ctx.binary_image_config_set:
        raise ValidationError('The "binary_image" value must be a non-empty string')
    return check_pull_spec(value) if value else None


def _validate_build_tags(payload: dict[str, Any]) -> list[str]:
    tags = payload.pop("build_tags", [])
    # deviation: IIB does not validate build_tags outside merge-index-image (a string is split
    # into characters, other types crash); we apply merge-index-image's rule everywhere.
    if not _is_str_list(tags):
        raise ValidationError(
            '"build_tags" should be either an empty array or an array of non-empty strings'
        )
    return _unique(tags)


def _validate_registry_auths(value: Any) -> None:
    if not isinstance(value, dict):
        raise ValidationError('"registry_auths" must be a dict')
    if list(value.keys()) != ["auths"]:
        raise ValidationError('"registry_auths" must contain single key "auths"')
    auths = value["auths"]
    if not auths or not isinstance(auths, dict):
        raise ValidationError('"registry_auths.auths" must be a non-empty dict')
    for registry, auth in auths.items():
        if (
            not isinstance(auth, dict)
            or len(auth) != 1
            or not all(k == "auth" and isinstance(v, str) for k, v in auth.items())
        ):
            raise ValidationError(
                f"{registry} in registry_auths has auth value in incorrect format. "
                "See the API docs for details on the expected format"
            )


def _index_common(
    payload: dict[str, Any],
    new: NewRequest,
    ctx: ValidationContext,
    *,
    required: tuple[str, ...] = (),
    optional: tuple[str, ...] = (),
    skip_params_check: bool = False,
) -> None:
    """IIB's ``RequestIndexImageMixin._from_json`` (contract §2.0), steps 1–10."""
    if not skip_params_check:
        validate_request_params(payload, set(required), set(_INDEX_OPTIONAL) | set(optional))
    if not payload.get("from_index") and not payload.get("add_arches"):
        raise ValidationError('One of "from_index" or "add_arches" must be specified')
    overwrite = payload.pop("overwrite_from_index", False)
    if not isinstance(overwrite, bool):
        raise ValidationError('The "overwrite_from_index" parameter must be a boolean')
    token = payload.pop("overwrite_from_index_token", None)
    if token:
        if not isinstance(token, str):
            raise ValidationError('The "overwrite_from_index_token" parameter must be a string')
        if not overwrite:
            raise ValidationError(
                'The "overwrite_from_index" parameter is required when the '
                '"overwrite_from_index_token" parameter is used'
            )
    scope = _validate_scope(payload.pop("distribution_scope", None))
    if scope:
        new.scalars["distribution_scope"] = scope
    if payload.get("deprecation_list"):
        payload["deprecation_list"] = _unique(payload["deprecation_list"])
    if ctx.authenticated and overwrite and not token:
        raise ForbiddenError(
            'You must set "overwrite_from_index_token" to use "overwrite_from_index"'
        )
    add_arches = payload.pop("add_arches", [])
    if not _is_str_list(add_arches):
        raise ValidationError("Architectures should be specified as a non-empty array of strings")
    binary_image = _validate_binary_image(payload.pop("binary_image", None), ctx)
    if binary_image:
        new.images["binary_image"] = binary_image
    if "from_index" in payload:
        if not isinstance(payload["from_index"], str):
            raise ValidationError('"from_index" must be a string')
        new.images["from_index"] = check_pull_spec(payload["from_index"])
    new.build_tags = _validate_build_tags(payload)
    new.worker_args["add_arches"] = _unique(add_arches)
    new.worker_args["overwrite_from_index"] = overwrite
    # The worker later records the binary image and scope it chose over these columns; keep
    # what the client asked for, so a redelivered request decides the same way.
    new.worker_args["binary_image"] = binary_image
    new.worker_args["distribution_scope"] = scope
    if token:
        new.secrets["overwrite_from_index_token"] = token
    new.serial = overwrite
    new.serial_index = new.images.get("from_index") if overwrite else None
    new.queue_index = new.images.get("from_index")


def _require_dict(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise ValidationError(NOT_A_DICT)
    return dict(payload)


def validate_add(payload: Any, ctx: ValidationContext) -> NewRequest:
    """POST /builds/add (contract §2.1)."""
    kwargs = _require_dict(payload)
    if kwargs.get("bundles") and isinstance(kwargs["bundles"], list):
        kwargs["bundles"] = _unique(kwargs["bundles"])
    return _add_from_json(kwargs, ctx)


def _add_from_json(kwargs: dict[str, Any], ctx: ValidationContext) -> NewRequest:
    new = NewRequest(RequestType.ADD)
    for key in ("bundles", "deprecation_list"):
        value = kwargs.get(key, [])
        if not isinstance(value, list) or any(not i or not isinstance(i, str) for i in value):
            raise ValidationError(
                f'"{key}" should be either an empty array or an array of non-empty strings'
            )
    if not (kwargs.get("bundles") or kwargs.get("from_index")):
        raise ValidationError('"from_index" must be specified if no bundles are specified')
    if kwargs.get("check_related_images") and not kwargs.get("bundles"):
        raise ValidationError(
            '"check_related_images" must be specified only when bundles are specified'
        )
    if not isinstance(kwargs.get("check_related_images", False), bool):
        raise ValidationError('The "check_related_images" parameter must be a boolean')
    for param in ("cnr_token", "graph_update_mode", "organization"):
        if param not in kwargs:
            continue
        if not isinstance(kwargs[param], str):
            raise ValidationError(f'"{param}" must be a string')
        if param == "graph_update_mode":
            _validate_graph_mode(kwargs[param], kwargs.get("from_index"), ctx)
    if not isinstance(kwargs.get("force_backport", False), bool):
        raise ValidationError('"force_backport" must be a boolean')
    cnr_token = kwargs.pop("cnr_token", None)
    kwargs.pop("force_backport", None)
    _index_common(
        kwargs,
        new,
        ctx,
        optional=(
            "from_index",
            "organization",
            "bundles",
            "deprecation_list",
            "graph_update_mode",
            "check_related_images",
        ),
    )
    bundles = [check_pull_spec(b) for b in kwargs.get("bundles", [])]
    deprecations = [check_pull_spec(b) for b in kwargs.get("deprecation_list", [])]
    new.image_lists[ImageList.BUNDLES] = bundles
    new.image_lists[ImageList.DEPRECATION_LIST] = deprecations
    for key in ("organization", "graph_update_mode", "check_related_images"):
        if key in kwargs:
            new.scalars[key] = kwargs[key]
    if cnr_token:
        new.secrets["cnr_token"] = cnr_token
    return new


def validate_rm(payload: Any, ctx: ValidationContext) -> NewRequest:
    """POST /builds/rm (contract §2.2)."""
    return _rm_from_json(_require_dict(payload), ctx)


def _rm_from_json(kwargs: dict[str, Any], ctx: ValidationContext) -> NewRequest:
    operators = kwargs.get("operators", [])
    if not isinstance(operators, list) or not operators or not _is_str_list(operators):
        raise ValidationError('"operators" should be a non-empty array of strings')
    new = NewRequest(RequestType.RM)
    _index_common(kwargs, new, ctx, required=("operators", "from_index"))
    # deviation: IIB answers 500 to duplicate operators; we de-duplicate them.
    new.operators = _unique(operators)
    return new


def validate_regenerate_bundle(payload: Any, ctx: ValidationContext) -> NewRequest:
    """POST /builds/regenerate-bundle (contract §2.3)."""
    return _regenerate_from_json(_require_dict(payload))


def _regenerate_from_json(kwargs: dict[str, Any]) -> NewRequest:
    validate_request_params(
        kwargs,
        required={"from_bundle_image"},
        optional={"bundle_replacements", "organization", "registry_auths"},
    )
    replacements = kwargs.get("bundle_replacements", {})
    if replacements:
        if not isinstance(replacements, dict):
            raise ValidationError('The value of "bundle_replacements" must be a JSON object')
        for key, value in replacements.items():
            if not isinstance(value, str) or not isinstance(key, str):
                raise ValidationError(f'The key and value of "{key}" must be a string')
    organization = kwargs.get("organization")
    if organization and not isinstance(organization, str):
        raise ValidationError('"organization" must be a string')
    from_bundle_image = kwargs.get("from_bundle_image")
    if not isinstance(from_bundle_image, str):
        raise ValidationError('"from_bundle_image" must be a string')
    registry_auths = kwargs.pop("registry_auths", None)
    if registry_auths:
        _validate_registry_auths(registry_auths)
    new = NewRequest(RequestType.REGENERATE_BUNDLE)
    new.images["from_bundle_image"] = check_pull_spec(from_bundle_image)
    if organization:
        new.scalars["organization"] = organization
    if replacements:
        new.scalars["bundle_replacements"] = json.dumps(replacements, sort_keys=True)
    if registry_auths:
        new.secrets["registry_auths"] = json.dumps(registry_auths, sort_keys=True)
    return new


def _validate_batch_envelope(payload: Any) -> tuple[list[Any], dict[str, Any] | None]:
    if (
        not isinstance(payload, dict)
        or not isinstance(payload.get("build_requests"), list)
        or not payload["build_requests"]
    ):
        raise ValidationError(
            'The input data must be a JSON object and the "build_requests" value must be a '
            "non-empty array"
        )
    annotations = payload.get("annotations", {})
    if not isinstance(annotations, dict):
        raise ValidationError('The value of "annotations" must be a JSON object')
    return payload["build_requests"], payload.get("annotations")


def _batch_item_error(exc: ValidationError, items: list[Any], item: Any) -> ValidationError:
    # IIB names the index of the first item equal to the failing one.
    return ValidationError(
        f"{str(exc).rstrip('.')}. This occurred on the build request in index {items.index(item)}."
    )


def validate_regenerate_bundle_batch(
    payload: Any, ctx: ValidationContext
) -> tuple[list[NewRequest], dict[str, Any] | None]:
    """POST /builds/regenerate-bundle-batch (contract §2.4): requests and batch annotations."""
    items, annotations = _validate_batch_envelope(payload)
    out = []
    for item in items:
        try:
            # deviation: IIB answers 500 to a non-object item; we answer 400.
            out.append(_regenerate_from_json(_require_dict(item)))
        except ValidationError as exc:
            raise _batch_item_error(exc, items, item) from None
    return out, annotations


def validate_add_rm_batch(
    payload: Any, ctx: ValidationContext
) -> tuple[list[NewRequest], dict[str, Any] | None]:
    """POST /builds/add-rm-batch (contract §2.5): requests and batch annotations.

    A 403 (overwrite without token) propagates without the index suffix, as in IIB.
    """
    items, annotations = _validate_batch_envelope(payload)
    out = []
    for item in items:
        try:
            kwargs = _require_dict(item)
            if kwargs.get("operators"):
                out.append(_rm_from_json(kwargs, ctx))
            elif kwargs.get("bundles"):
                if isinstance(kwargs["bundles"], list):
                    kwargs["bundles"] = _unique(kwargs["bundles"])
                out.append(_add_from_json(kwargs, ctx))
            else:
                raise ValidationError("Build request is not a valid Add/Rm request.")
        except ValidationError as exc:
            raise _batch_item_error(exc, items, item) from None
    return out, annotations


_MERGE_KEYS = {
    "source_from_index",
    "target_index",
    "deprecation_list",
    "binary_image",
    "distribution_scope",
    "graph_update_mode",
    "ignore_bundle_ocp_version",
    "build_tags",
    "overwrite_target_index",
    "overwrite_target_index_token",
}


def validate_merge_index_image(payload: Any, ctx: ValidationContext) -> NewRequest:
    """POST /builds/merge-index-image (contract §2.6)."""
    kwargs = _require_dict(payload)
    # deviation: IIB has no unknown-parameter check here (an unknown key is a 500).
    invalid = kwargs.keys() - _MERGE_KEYS
    if invalid:
        raise ValidationError(f"The following parameters are invalid: {', '.join(sorted(invalid))}")
    new = NewRequest(RequestType.MERGE_INDEX_IMAGE)
    deprecation_list = kwargs.pop("deprecation_list", [])
    if not _is_str_list(deprecation_list):
        raise ValidationError(
            'The "deprecation_list" value should be an empty array or an array of strings'
        )
    # deviation: IIB answers 500 to duplicates; we de-duplicate.
    new.image_lists[ImageList.DEPRECATION_LIST] = [
        check_pull_spec(item) for item in _unique(deprecation_list)
    ]
    source = kwargs.get("source_from_index")
    if not (isinstance(source, str) and source):
        raise ValidationError('The "source_from_index" value must be a string')
    new.images["source_from_index"] = check_pull_spec(source)
    mode = kwargs.get("graph_update_mode")
    _validate_graph_mode(mode, kwargs.get("target_index"), ctx)
    if mode:
        new.scalars["graph_update_mode"] = mode
    target = kwargs.pop("target_index", None)
    if target:
        if not isinstance(target, str):
            raise ValidationError('The "target_index" value must be a string')
        new.images["target_index"] = check_pull_spec(target)
    overwrite = kwargs.pop("overwrite_target_index", False)
    if not isinstance(overwrite, bool):
        raise ValidationError('The "overwrite_target_index" value must be a boolean')
    token = kwargs.pop("overwrite_target_index_token", None)
    if token:
        if not isinstance(token, str):
            raise ValidationError('The "overwrite_target_index_token" value must be a string')
        if not overwrite:
            raise ValidationError(
                'The "overwrite_target_index" value is required when the '
                '"overwrite_target_index_token" value is used'
            )
    elif overwrite:
        raise ValidationError(
            'The "overwrite_target_index_token" value is required when the '
            '"overwrite_target_index" value is set'
        )
    binary_image = _validate_binary_image(kwargs.pop("binary_image", None), ctx)
    if binary_image:
        new.images["binary_image"] = binary_image
    scope = _validate_scope(kwargs.pop("distribution_scope", None))
    if scope:
        new.scalars["distribution_scope"] = scope
    # deviation: IIB answers 500 to any non-empty build_tags here; we store them.
    new.build_tags = _validate_build_tags(kwargs)
    ignore = kwargs.get("ignore_bundle_ocp_version")
    if ignore is not None and not isinstance(ignore, bool):
        # deviation: IIB does not validate this flag (500 on a non-boolean).
        raise ValidationError('The "ignore_bundle_ocp_version" value must be a boolean')
    if "ignore_bundle_ocp_version" in kwargs:
        new.scalars["ignore_bundle_ocp_version"] = ignore
    new.worker_args["overwrite_target_index"] = overwrite
    new.worker_args["binary_image"] = binary_image
    new.worker_args["distribution_scope"] = scope
    if token:
        new.secrets["overwrite_target_index_token"] = token
    new.serial = overwrite
    new.serial_index = new.images.get("target_index") if overwrite else None
    new.queue_index = None  # IIB passes no pull spec for merge: a dict mapping uses "all"
    return new


def validate_create_empty_index(payload: Any, ctx: ValidationContext) -> NewRequest:
    """POST /builds/create-empty-index (contract §2.7)."""
    kwargs = _require_dict(payload)
    if kwargs.get("from_index") is None:
        raise ValidationError('"from_index" must be a specified')
    if not isinstance(kwargs.get("from_index"), str) or not kwargs["from_index"]:
        raise ValidationError('"from_index" must be a non-empty string')
    output_fbc = kwargs.get("output_fbc")
    if output_fbc and not isinstance(output_fbc, bool):
        raise ValidationError('"output_fbc" should be boolean')
    labels = kwargs.get("labels")
    if labels is not None:
        if not isinstance(labels, dict):
            raise ValidationError('The value of "labels" must be a JSON object')
        for key, value in labels.items():
            if not isinstance(value, str) or not isinstance(key, str):
                raise ValidationError(f'The key and value of "{key}" must be a string')
    for arg in ("add_arches", "overwrite_from_index", "overwrite_from_index_token", "build_tags"):
        if arg in kwargs:
            raise ValidationError(
                f'The "{arg}" arg is invalid for the create-empty-index endpoint.'
            )
    new = NewRequest(RequestType.CREATE_EMPTY_INDEX)
    _index_common(kwargs, new, ctx, required=("from_index",), optional=("labels", "output_fbc"))
    if kwargs.get("labels"):
        new.scalars["labels"] = json.dumps(kwargs["labels"], sort_keys=True)
    new.worker_args["output_fbc"] = bool(kwargs.get("output_fbc", False))
    # IIB routes create-empty-index as a parallel request without a pull spec.
    new.serial, new.serial_index, new.queue_index = False, None, None
    return new


def validate_recursive_related_bundles(payload: Any, ctx: ValidationContext) -> NewRequest:
    """POST /builds/recursive-related-bundles (contract §2.8)."""
    kwargs = _require_dict(payload)
    validate_request_params(
        kwargs, required={"parent_bundle_image"}, optional={"organization", "registry_auths"}
    )
    organization = kwargs.get("organization")
    if organization and not isinstance(organization, str):
        raise ValidationError('"organization" must be a string')
    parent = kwargs.get("parent_bundle_image")
    if not isinstance(parent, str):
        raise ValidationError('"parent_bundle_image" must be a string')
    registry_auths = kwargs.pop("registry_auths", None)
    if registry_auths:
        _validate_registry_auths(registry_auths)
    new = NewRequest(RequestType.RECURSIVE_RELATED_BUNDLES)
    new.images["parent_bundle_image"] = check_pull_spec(parent)
    if organization:
        new.scalars["organization"] = organization
    if registry_auths:
        new.secrets["registry_auths"] = json.dumps(registry_auths, sort_keys=True)
    return new


def validate_fbc_operations(payload: Any, ctx: ValidationContext) -> NewRequest:
    """POST /builds/fbc-operations (contract §2.9)."""
    kwargs = _require_dict(payload)
    fragment = kwargs.get("fbc_fragment")
    fragments = kwargs.get("fbc_fragments")
    if fragment is not None and fragments is not None:
        raise ValidationError('Cannot provide both "fbc_fragment" and "fbc_fragments" parameters')
    used_single = False
    if isinstance(fragment, str):
        kwargs["fbc_fragments"] = [fragment]
        kwargs.pop("fbc_fragment")
        used_single = True
    elif fragment is not None:
        raise ValidationError('"fbc_fragment" must be a string')
    elif fragments is None:
        raise ValidationError('Either "fbc_fragment" or "fbc_fragments" must be provided')
    else:
        kwargs.pop("fbc_fragment", None)
    validate_request_params(
        kwargs, required={"fbc_fragments", "from_index"}, optional=set(_INDEX_OPTIONAL)
    )
    fragments = kwargs.get("fbc_fragments", [])
    if not _is_str_list(fragments):
        raise ValidationError(
            '"fbc_fragments" should be either an empty array or an array of non-empty strings'
        )
    new = NewRequest(RequestType.FBC_OPERATIONS)
    _index_common(kwargs, new, ctx, skip_params_check=True)
    # deviation: IIB answers 500 to duplicate fragments; we de-duplicate.
    pull_specs = [check_pull_spec(f) for f in _unique(fragments)]
    new.image_lists[ImageList.FBC_FRAGMENTS] = pull_specs
    new.scalars["used_fbc_fragment"] = used_single
    if used_single and pull_specs:
        new.images["fbc_fragment"] = pull_specs[0]
    return new


def validate_add_deprecations(payload: Any, ctx: ValidationContext) -> NewRequest:
    """POST /builds/add-deprecations (contract §2.11)."""
    kwargs = _require_dict(payload)
    package = kwargs.get("operator_package")
    if not package or not isinstance(package, str):
        raise ValidationError('"operator_package" should be a non-empty string')
    schema = kwargs.get("deprecation_schema")
    if not schema or not isinstance(schema, str):
        raise ValidationError('"deprecation_schema" should be a non-empty string')
    try:
        json.loads(schema)
    except ValueError:
        raise ValidationError('"deprecation_schema" string should be valid JSON') from None
    new = NewRequest(RequestType.ADD_DEPRECATIONS)
    _index_common(
        kwargs, new, ctx, required=("deprecation_schema", "from_index", "operator_package")
    )
    new.operator_package = package
    new.deprecation_schema = schema
    return new


# Endpoint name (the path's last segment) → validator of a single-request endpoint.
SINGLE_VALIDATORS: dict[str, Callable[[Any, ValidationContext], NewRequest]] = {
    "add": validate_add,
    "rm": validate_rm,
    "regenerate-bundle": validate_regenerate_bundle,
    "merge-index-image": validate_merge_index_image,
    "create-empty-index": validate_create_empty_index,
    "recursive-related-bundles": validate_recursive_related_bundles,
    "fbc-operations": validate_fbc_operations,
    "add-deprecations": validate_add_deprecations,
}
BATCH_VALIDATORS: dict[
    str, Callable[[Any, ValidationContext], tuple[list[NewRequest], dict[str, Any] | None]]
] = {
    "regenerate-bundle-batch": validate_regenerate_bundle_batch,
    "add-rm-batch": validate_add_rm_batch,
}
