"""Submission validation through Envoy: IIB's messages, status codes and evaluation order
(contract §0 and §2), plus the deliberate 400-instead-of-500 deviations."""

from __future__ import annotations

from typing import Any

import pytest

from services.common.errors import BAD_REQUEST_TEXT, UNSUPPORTED_MEDIA_TYPE_TEXT
from tests.gateway.conftest import Stack, StackFactory

pytestmark = pytest.mark.db

NOT_OBJECT = "The input data must be a JSON object"
BIN = {"binary_image": "binary:image"}
OPTIONS = "['replaces', 'semver', 'semver-skippatch']"


def _error(api: Stack, endpoint: str, body: Any, status: int = 400) -> str:
    resp = api.post(endpoint, body)
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/json"
    return str(resp.json()["error"])


# --- the body itself --------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_non_json_content_type_is_415(api: Stack, content_type: str) -> None:
    resp = api.request(
        "POST",
        "/api/v1/builds/add",
        user="tbrady@DOMAIN.LOCAL",
        data=b'{"bundles": []}',
        headers={"Content-Type": content_type},
    )
    assert resp.status_code == 415
    assert resp.json() == {"error": UNSUPPORTED_MEDIA_TYPE_TEXT}


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "application/merge-patch+json"]
)
def test_json_content_types_are_accepted(api: Stack, content_type: str) -> None:
    resp = api.request(
        "POST",
        "/api/v1/builds/add",
        user="tbrady@DOMAIN.LOCAL",
        data=b"[]",
        headers={"Content-Type": content_type},
    )
    assert resp.json() == {"error": NOT_OBJECT}


@pytest.mark.parametrize("raw", [b"{bad json", b"", b'{"a": 1', b"\xff\xfe"])
def test_malformed_json_is_400_with_werkzeug_text(api: Stack, raw: bytes) -> None:
    resp = api.request(
        "POST",
        "/api/v1/builds/rm",
        user="tbrady@DOMAIN.LOCAL",
        data=raw,
        headers={"Content-Type": "application/json"},
    )
    assert resp.status_code == 400
    assert resp.json() == {"error": BAD_REQUEST_TEXT}


@pytest.mark.parametrize("body", [[], None, "str", 5, [{"a": 1}]])
@pytest.mark.parametrize(
    "endpoint",
    [
        "add",
        "rm",
        "regenerate-bundle",
        "merge-index-image",
        "create-empty-index",
        "recursive-related-bundles",
        "fbc-operations",
        "add-deprecations",
    ],
)
def test_non_object_body_is_rejected(api: Stack, endpoint: str, body: Any) -> None:
    assert _error(api, endpoint, body) == NOT_OBJECT


# --- add ----------------------------------------------------------------------------------------

ADD_CASES = [
    (
        {"bundles": "q:1", **BIN},
        '"bundles" should be either an empty array or an array of non-empty strings',
    ),
    (
        {"bundles": None, **BIN},
        '"bundles" should be either an empty array or an array of non-empty strings',
    ),
    (
        {"bundles": [""], **BIN},
        '"bundles" should be either an empty array or an array of non-empty strings',
    ),
    (
        {"bundles": ["a:1"], "deprecation_list": [1], **BIN},
        '"deprecation_list" should be either an empty array or an array of non-empty strings',
    ),
    (
        {"add_arches": ["s390x"], **BIN},
        '"from_index" must be specified if no bundles are specified',
    ),
    ({"add_arches": ["s390x"]}, '"from_index" must be specified if no bundles are specified'),
    (
        {"from_index": "pull:spec", "check_related_images": "123", **BIN},
        '"check_related_images" must be specified only when bundles are specified',
    ),
    (
        {
            "bundles": ["some:thing"],
            "from_index": "pull:spec",
            "check_related_images": "123",
            **BIN,
        },
        'The "check_related_images" parameter must be a boolean',
    ),
    ({"bundles": ["some:thing"], "cnr_token": True, **BIN}, '"cnr_token" must be a string'),
    ({"bundles": ["some:thing"], "organization": True, **BIN}, '"organization" must be a string'),
    ({"bundles": ["some:thing"], "organization": None, **BIN}, '"organization" must be a string'),
    (
        {"bundles": ["some:thing"], "force_backport": "spam", **BIN},
        '"force_backport" must be a boolean',
    ),
    (
        {"bundles": ["some:thing"], "graph_update_mode": 123, **BIN},
        '"graph_update_mode" must be a string',
    ),
    (
        {"bundles": ["some:thing"], "graph_update_mode": "Hi", **BIN},
        f'"graph_update_mode" must be set to one of these: {OPTIONS}',
    ),
    (
        {"bundles": ["some:thing"], "best_batsman": "Virat Kohli", **BIN},
        "The following parameters are invalid: best_batsman",
    ),
    (
        {"bundles": ["some:thing"], "from_index": "pull:spec", "add_arches": ["s390x"]},
        'The "binary_image" value must be a non-empty string',
    ),
    (
        {"bundles": ["some:thing"], "binary_image": "", "add_arches": ["s390x"]},
        'The "binary_image" value must be a non-empty string',
    ),
    (
        {"bundles": ["some:thing"], "binary_image": 5, "add_arches": ["s390x"]},
        'The "binary_image" value must be a string',
    ),
    (
        {
            "bundles": ["some:thing"],
            "add_arches": ["s390x"],
            "overwrite_from_index_token": "u:p",
            **BIN,
        },
        'The "overwrite_from_index" parameter is required when the "overwrite_from_index_token" '
        "parameter is used",
    ),
    (
        {
            "bundles": ["some:thing"],
            "from_index": "pull:spec",
            "overwrite_from_index": True,
            "overwrite_from_index_token": True,
            **BIN,
        },
        'The "overwrite_from_index_token" parameter must be a string',
    ),
    (
        {
            "bundles": ["some:thing"],
            "from_index": "pull:spec",
            "overwrite_from_index": "yes",
            **BIN,
        },
        'The "overwrite_from_index" parameter must be a boolean',
    ),
    (
        {
            "bundles": ["some:thing"],
            "from_index": "pull:spec",
            "distribution_scope": "everywhere",
            **BIN,
        },
        'The "distribution_scope" value must be one of "dev", "stage", or "prod"',
    ),
    (
        {"bundles": ["some:thing"], "from_index": "pull:spec", "add_arches": [""], **BIN},
        "Architectures should be specified as a non-empty array of strings",
    ),
    (
        {"bundles": ["some:thing"], "from_index": "pull:spec", "add_arches": "amd64", **BIN},
        "Architectures should be specified as a non-empty array of strings",
    ),
    ({"bundles": ["some:thing"], "from_index": 5, **BIN}, '"from_index" must be a string'),
    (
        {"bundles": ["some:thing"], "from_index": "no-tag", **BIN},
        "Image no-tag should have a tag or a digest specified.",
    ),
    (
        {"bundles": ["some:thing"], "binary_image": "notag", "from_index": "pull:spec"},
        "Image notag should have a tag or a digest specified.",
    ),
    (
        {"bundles": ["no-tag-bundle"], "from_index": "pull:spec", **BIN},
        "Image no-tag-bundle should have a tag or a digest specified.",
    ),
    (
        {"bundles": ["a:1"], "deprecation_list": ["nodigest"], "from_index": "pull:spec", **BIN},
        "Image nodigest should have a tag or a digest specified.",
    ),
    # ordering: a type error of steps 2-7 wins over the unknown-parameter check of step 8
    ({"bundles": ["a:1"], "organization": 5, "junk": 1, **BIN}, '"organization" must be a string'),
    # ordering: unknown parameters win over "from_index or add_arches"
    ({"bundles": ["a:1"], "junk": 1, **BIN}, "The following parameters are invalid: junk"),
    ({"bundles": ["a:1"], **BIN}, 'One of "from_index" or "add_arches" must be specified'),
    # deviations: IIB answers 500 to these
    (
        {"bundles": ["a:1"], "from_index": "i:1", "distribution_scope": 5, **BIN},
        'The "distribution_scope" value must be one of "dev", "stage", or "prod"',
    ),
    (
        {"bundles": ["a:1"], "from_index": "i:1", "output_fbc": True, **BIN},
        "The following parameters are invalid: output_fbc",
    ),
    (
        {"bundles": ["a:1"], "from_index": "i:1", "build_tags": "xy", **BIN},
        '"build_tags" should be either an empty array or an array of non-empty strings',
    ),
    (
        {"bundles": ["a:1"], "from_index": "i:1", "build_tags": [""], **BIN},
        '"build_tags" should be either an empty array or an array of non-empty strings',
    ),
]


@pytest.mark.parametrize(("body", "message"), ADD_CASES)
def test_add_rejects_with_iib_message(api: Stack, body: dict, message: str) -> None:
    assert _error(api, "add", body) == message


def test_add_overwrite_without_token_is_403(api: Stack) -> None:
    body = {
        "bundles": ["some:thing"],
        "from_index": "pull:spec",
        "overwrite_from_index": True,
        **BIN,
    }
    assert _error(api, "add", body, 403) == (
        'You must set "overwrite_from_index_token" to use "overwrite_from_index"'
    )


def test_add_403_comes_after_the_scope_check(api: Stack) -> None:
    body = {
        "bundles": ["a:1"],
        "from_index": "i:1",
        "overwrite_from_index": True,
        "distribution_scope": "bad",
        **BIN,
    }
    assert _error(api, "add", body) == (
        'The "distribution_scope" value must be one of "dev", "stage", or "prod"'
    )


@pytest.mark.parametrize("from_index", [None, "some-random-index:v4.14", "some-common-index:v4.15"])
def test_add_graph_mode_outside_allow_list_is_403(
    stack_factory: StackFactory, from_index: str | None
) -> None:
    allow = ["some-unique-index", "some-common-index:v1.14"]
    stack = stack_factory(IIB_GRAPH_MODE_INDEX_ALLOW_LIST=allow)
    body = {
        "bundles": ["some:thing"],
        "from_index": from_index,
        "graph_update_mode": "semver",
        "overwrite_from_index": True,
        "overwrite_from_index_token": "tok",
        **BIN,
    }
    resp = stack.post("add", body)
    assert resp.status_code == 403
    assert (
        resp.json()["error"]
        == f'"graph_update_mode" can only be used on the following index image: {allow}'
    )


@pytest.mark.parametrize("from_index", ["some-common-index:v4.15", "another-common-index:v4.15"])
def test_add_graph_mode_on_allow_listed_index_is_accepted(
    stack_factory: StackFactory, from_index: str
) -> None:
    stack = stack_factory(
        IIB_GRAPH_MODE_INDEX_ALLOW_LIST=["some-common-index", "another-common-index:v4.15"]
    )
    body = {
        "bundles": ["some:thing"],
        "from_index": from_index,
        "graph_update_mode": "semver",
        **BIN,
    }
    resp = stack.post("add", body)
    assert resp.status_code == 201, resp.text
    assert resp.json()["graph_update_mode"] == "semver"


def test_binary_image_is_optional_with_binary_image_config(stack_factory: StackFactory) -> None:
    stack = stack_factory(IIB_BINARY_IMAGE_CONFIG={"prod": {"v4.5": "quay.io/bin:v4.5"}})
    resp = stack.post("add", {"bundles": ["a:1"], "from_index": "i:1"})
    assert resp.status_code == 201, resp.text
    assert resp.json()["binary_image"] is None
    assert (
        stack.post("add", {"bundles": ["a:1"], "from_index": "i:1", "binary_image": ""}).status_code
        == 201
    )


def test_add_scratch_binary_image_is_allowed(api: Stack) -> None:
    resp = api.post("add", {"bundles": ["a:1"], "from_index": "i:1", "binary_image": "scratch"})
    assert resp.status_code == 201
    assert resp.json()["binary_image"] == "scratch"


def test_add_empty_optionals_count_as_absent(api: Stack) -> None:
    body = {
        "bundles": ["a:1"],
        "from_index": "i:1",
        "organization": "",
        "distribution_scope": "",
        "deprecation_list": [],
        "build_tags": [],
        "add_arches": [],
        **BIN,
    }
    resp = api.post("add", body)
    assert resp.status_code == 201, resp.text
    data = resp.json()
    assert data["organization"] is None
    assert data["distribution_scope"] is None


def test_add_deduplicates_bundles_in_order_and_lowercases_scope(api: Stack) -> None:
    body = {
        "bundles": ["b:2", "a:1", "b:2"],
        "from_index": "i:1",
        "distribution_scope": "Stage",
        "build_tags": ["z", "a", "z"],
        **BIN,
    }
    data = api.post("add", body).json()
    assert data["bundles"] == ["b:2", "a:1"]
    assert data["distribution_scope"] == "stage"
    assert data["build_tags"] == ["a", "z"]


# --- rm -------------------------------------------------------------------------------------------

RM_CASES = [
    (
        {"from_index": "pull:spec", "add_arches": ["s390x"], **BIN},
        '"operators" should be a non-empty array of strings',
    ),
    (
        {"operators": [], "from_index": "pull:spec", **BIN},
        '"operators" should be a non-empty array of strings',
    ),
    (
        {"operators": "op", "from_index": "pull:spec", **BIN},
        '"operators" should be a non-empty array of strings',
    ),
    (
        {"operators": [""], "from_index": "pull:spec", **BIN},
        '"operators" should be a non-empty array of strings',
    ),
    (
        {"cnr_token": "token", "from_index": "pull:spec", "operators": ["prometheus"], **BIN},
        "The following parameters are invalid: cnr_token",
    ),
    (
        {
            "organization": "organization",
            "from_index": "pull:spec",
            "operators": ["prometheus"],
            **BIN,
        },
        "The following parameters are invalid: organization",
    ),
    (
        {"operators": ["some:thing"], "from_index": "pull:spec", "add_arches": ["s390x"]},
        'The "binary_image" value must be a non-empty string',
    ),
    (
        {"operators": ["some:thing"], "binary_image": "pull:spec", "add_arches": ["s390x"]},
        "Missing required parameter(s): from_index",
    ),
    (
        {"operators": ["some:thing"], "binary_image": "pull:spec", "from_index": ""},
        '"from_index" must be set',
    ),
    (
        {
            "operators": ["some:thing"],
            "binary_image": "pull:spec",
            "from_index": "pull:spec",
            "overwrite_from_index_token": "username:password",
        },
        'The "overwrite_from_index" parameter is required when the "overwrite_from_index_token" '
        "parameter is used",
    ),
]


@pytest.mark.parametrize(("body", "message"), RM_CASES)
def test_rm_rejects_with_iib_message(api: Stack, body: dict, message: str) -> None:
    assert _error(api, "rm", body) == message


def test_rm_overwrite_without_token_is_403(api: Stack) -> None:
    body = {
        "operators": ["prometheus"],
        "from_index": "pull:spec",
        "overwrite_from_index": True,
        **BIN,
    }
    assert _error(api, "rm", body, 403) == (
        'You must set "overwrite_from_index_token" to use "overwrite_from_index"'
    )


def test_rm_deduplicates_operators(api: Stack) -> None:
    resp = api.post("rm", {"operators": ["a", "b", "a"], "from_index": "i:1", **BIN})
    assert resp.status_code == 201
    assert resp.json()["removed_operators"] == ["a", "b"]


# --- regenerate-bundle --------------------------------------------------------------------------

REGEN_CASES = [
    ({}, "Missing required parameter(s): from_bundle_image"),
    ({"from_bundle_image": "b:1", "spam": 1}, "The following parameters are invalid: spam"),
    ({"from_bundle_image": ""}, '"from_bundle_image" must be set'),
    (
        {"from_bundle_image": "b:1", "bundle_replacements": "x"},
        'The value of "bundle_replacements" must be a JSON object',
    ),
    (
        {"from_bundle_image": "b:1", "bundle_replacements": {"a": 1}},
        'The key and value of "a" must be a string',
    ),
    ({"from_bundle_image": "b:1", "organization": 5}, '"organization" must be a string'),
    ({"from_bundle_image": 5}, '"from_bundle_image" must be a string'),
    ({"from_bundle_image": "b:1", "registry_auths": "x"}, '"registry_auths" must be a dict'),
    (
        {"from_bundle_image": "b:1", "registry_auths": {"auths": {}, "x": 1}},
        '"registry_auths" must contain single key "auths"',
    ),
    (
        {"from_bundle_image": "b:1", "registry_auths": {"auths": []}},
        '"registry_auths.auths" must be a non-empty dict',
    ),
    (
        {"from_bundle_image": "b:1", "registry_auths": {"auths": {"reg.io": {"auth": 1}}}},
        "reg.io in registry_auths has auth value in incorrect format. See the API docs for details on "
        "the expected format",
    ),
    (
        {
            "from_bundle_image": "b:1",
            "registry_auths": {"auths": {"reg.io": {"auth": "x", "email": "y"}}},
        },
        "reg.io in registry_auths has auth value in incorrect format. See the API docs for details on "
        "the expected format",
    ),
    ({"from_bundle_image": "nodigest"}, "Image nodigest should have a tag or a digest specified."),
]


@pytest.mark.parametrize(("body", "message"), REGEN_CASES)
def test_regenerate_bundle_rejects_with_iib_message(api: Stack, body: dict, message: str) -> None:
    assert _error(api, "regenerate-bundle", body) == message


# --- batches --------------------------------------------------------------------------------------

ENVELOPE = (
    'The input data must be a JSON object and the "build_requests" value must be a non-empty array'
)


@pytest.mark.parametrize("endpoint", ["regenerate-bundle-batch", "add-rm-batch"])
@pytest.mark.parametrize("body", [[], {}, {"build_requests": []}, {"build_requests": {}}])
def test_batch_envelope_errors(api: Stack, endpoint: str, body: Any) -> None:
    assert _error(api, endpoint, body) == ENVELOPE


@pytest.mark.parametrize("endpoint", ["regenerate-bundle-batch", "add-rm-batch"])
@pytest.mark.parametrize("annotations", [None, [], "x"])
def test_batch_annotations_must_be_an_object(api: Stack, endpoint: str, annotations: Any) -> None:
    body = {"build_requests": [{"from_bundle_image": "b:1"}], "annotations": annotations}
    assert _error(api, endpoint, body) == 'The value of "annotations" must be a JSON object'


def test_regenerate_batch_error_names_the_item_index(api: Stack) -> None:
    body = {"build_requests": [{"from_bundle_image": "b:1"}, {"from_bundle_image": "b:2", "x": 1}]}
    assert _error(api, "regenerate-bundle-batch", body) == (
        "The following parameters are invalid: x. This occurred on the build request in index 1."
    )


def test_regenerate_batch_non_object_item_is_400(api: Stack) -> None:
    body = {"build_requests": [{"from_bundle_image": "b:1"}, "b:2"]}
    assert _error(api, "regenerate-bundle-batch", body) == (
        "The input data must be a JSON object. This occurred on the build request in index 1."
    )


def test_add_rm_batch_rejects_items_that_are_neither(api: Stack) -> None:
    body = {"build_requests": [{"from_index": "i:1", **BIN}]}
    assert _error(api, "add-rm-batch", body) == (
        "Build request is not a valid Add/Rm request. This occurred on the build request in index 0."
    )


def test_add_rm_batch_rm_item_with_bundles_is_invalid(api: Stack) -> None:
    body = {
        "build_requests": [{"operators": ["op"], "bundles": ["a:1"], "from_index": "i:1", **BIN}]
    }
    assert _error(api, "add-rm-batch", body) == (
        "The following parameters are invalid: bundles. This occurred on the build request in index 0."
    )


def test_add_rm_batch_403_has_no_index_suffix(api: Stack) -> None:
    body = {
        "build_requests": [
            {"bundles": ["a:1"], "from_index": "i:1", "overwrite_from_index": True, **BIN}
        ]
    }
    assert _error(api, "add-rm-batch", body, 403) == (
        'You must set "overwrite_from_index_token" to use "overwrite_from_index"'
    )


def test_add_rm_batch_index_is_of_the_first_equal_item(api: Stack) -> None:
    bad = {"bundles": ["a:1"], "junk": 1, **BIN}
    body = {"build_requests": [bad, {"operators": ["op"], "from_index": "i:1", **BIN}, bad]}
    assert _error(api, "add-rm-batch", body).endswith(
        "This occurred on the build request in index 0."
    )


# --- merge-index-image ------------------------------------------------------------------------------

MERGE_CASES = [
    (
        {"source_from_index": "s:1", "deprecation_list": "x", **BIN},
        'The "deprecation_list" value should be an empty array or an array of strings',
    ),
    (
        {"source_from_index": "s:1", "deprecation_list": ["nodigest"], **BIN},
        "Image nodigest should have a tag or a digest specified.",
    ),
    ({**BIN}, 'The "source_from_index" value must be a string'),
    ({"source_from_index": "", **BIN}, 'The "source_from_index" value must be a string'),
    (
        {"source_from_index": "s:1", "graph_update_mode": "x", **BIN},
        f'"graph_update_mode" must be set to one of these: {OPTIONS}',
    ),
    (
        {"source_from_index": "s:1", "target_index": 5, **BIN},
        'The "target_index" value must be a string',
    ),
    (
        {"source_from_index": "s:1", "overwrite_target_index": "y", **BIN},
        'The "overwrite_target_index" value must be a boolean',
    ),
    (
        {"source_from_index": "s:1", "overwrite_target_index_token": 5, **BIN},
        'The "overwrite_target_index_token" value must be a string',
    ),
    (
        {"source_from_index": "s:1", "overwrite_target_index_token": "t", **BIN},
        'The "overwrite_target_index" value is required when the "overwrite_target_index_token" value is used',
    ),
    (
        {"source_from_index": "s:1", "overwrite_target_index": True, **BIN},
        'The "overwrite_target_index_token" value is required when the "overwrite_target_index" value is set',
    ),
    ({"source_from_index": "s:1"}, 'The "binary_image" value must be a non-empty string'),
    (
        {"source_from_index": "s:1", "distribution_scope": "x", **BIN},
        'The "distribution_scope" value must be one of "dev", "stage", or "prod"',
    ),
    (
        {"source_from_index": "s:1", "build_tags": [1], **BIN},
        '"build_tags" should be either an empty array or an array of non-empty strings',
    ),
    # deviations: IIB answers 500 to these
    ({"source_from_index": "s:1", "junk": 1, **BIN}, "The following parameters are invalid: junk"),
    (
        {"source_from_index": "s:1", "ignore_bundle_ocp_version": "yes", **BIN},
        'The "ignore_bundle_ocp_version" value must be a boolean',
    ),
]


@pytest.mark.parametrize(("body", "message"), MERGE_CASES)
def test_merge_rejects_with_iib_message(api: Stack, body: dict, message: str) -> None:
    assert _error(api, "merge-index-image", body) == message


def test_merge_graph_mode_uses_target_index_for_the_allow_list(stack_factory: StackFactory) -> None:
    stack = stack_factory(IIB_GRAPH_MODE_INDEX_ALLOW_LIST=["t"])
    ok = stack.post(
        "merge-index-image",
        {"source_from_index": "s:1", "target_index": "t:1", "graph_update_mode": "semver", **BIN},
    )
    assert ok.status_code == 201, ok.text
    denied = stack.post(
        "merge-index-image", {"source_from_index": "t:1", "graph_update_mode": "semver", **BIN}
    )
    assert denied.status_code == 403


def test_merge_overwrite_without_token_is_400_even_with_login_disabled(
    stack_factory: StackFactory,
) -> None:
    stack = stack_factory(LOGIN_DISABLED=True)
    resp = stack.post(
        "merge-index-image",
        {"source_from_index": "s:1", "overwrite_target_index": True, **BIN},
        user=None,
    )
    assert resp.status_code == 400


def test_merge_accepts_build_tags_and_dedupes_deprecations(api: Stack) -> None:
    resp = api.post(
        "merge-index-image",
        {
            "source_from_index": "s:1",
            "build_tags": ["t1"],
            "deprecation_list": ["d:1", "d:1"],
            **BIN,
        },
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["build_tags"] == ["t1"]
    assert resp.json()["deprecation_list"] == ["d:1"]


# --- create-empty-index -------------------------------------------------------------------------------

CREATE_EMPTY_CASES = [
    ({**BIN}, '"from_index" must be a specified'),
    ({"from_index": None, **BIN}, '"from_index" must be a specified'),
    ({"from_index": 5, **BIN}, '"from_index" must be a non-empty string'),
    ({"from_index": "", **BIN}, '"from_index" must be a non-empty string'),
    ({"from_index": "i:1", "output_fbc": "yes", **BIN}, '"output_fbc" should be boolean'),
    ({"from_index": "i:1", "labels": "", **BIN}, 'The value of "labels" must be a JSON object'),
    ({"from_index": "i:1", "labels": {"a": 1}, **BIN}, 'The key and value of "a" must be a string'),
    (
        {"from_index": "i:1", "add_arches": ["amd64"], **BIN},
        'The "add_arches" arg is invalid for the create-empty-index endpoint.',
    ),
    (
        {"from_index": "i:1", "overwrite_from_index": None, **BIN},
        'The "overwrite_from_index" arg is invalid for the create-empty-index endpoint.',
    ),
    (
        {"from_index": "i:1", "overwrite_from_index_token": "t", **BIN},
        'The "overwrite_from_index_token" arg is invalid for the create-empty-index endpoint.',
    ),
    (
        {"from_index": "i:1", "build_tags": [], **BIN},
        'The "build_tags" arg is invalid for the create-empty-index endpoint.',
    ),
    ({"from_index": "i:1", "spam": 1, **BIN}, "The following parameters are invalid: spam"),
    ({"from_index": "i:1"}, 'The "binary_image" value must be a non-empty string'),
]


@pytest.mark.parametrize(("body", "message"), CREATE_EMPTY_CASES)
def test_create_empty_index_rejects_with_iib_message(api: Stack, body: dict, message: str) -> None:
    assert _error(api, "create-empty-index", body) == message


def test_create_empty_index_stores_empty_labels_as_null(api: Stack) -> None:
    resp = api.post("create-empty-index", {"from_index": "i:1", "labels": {}, **BIN})
    assert resp.status_code == 201
    assert resp.json()["labels"] is None
    resp = api.post(
        "create-empty-index", {"from_index": "i:1", "labels": {"k": "v"}, "output_fbc": True, **BIN}
    )
    assert resp.json()["labels"] == {"k": "v"}


# --- recursive-related-bundles ----------------------------------------------------------------------

RRB_CASES = [
    ({}, "Missing required parameter(s): parent_bundle_image"),
    ({"parent_bundle_image": "p:1", "x": 1}, "The following parameters are invalid: x"),
    ({"parent_bundle_image": ""}, '"parent_bundle_image" must be set'),
    ({"parent_bundle_image": "p:1", "organization": 1}, '"organization" must be a string'),
    ({"parent_bundle_image": 1}, '"parent_bundle_image" must be a string'),
    ({"parent_bundle_image": "p:1", "registry_auths": "x"}, '"registry_auths" must be a dict'),
    ({"parent_bundle_image": "p"}, "Image p should have a tag or a digest specified."),
]


@pytest.mark.parametrize(("body", "message"), RRB_CASES)
def test_recursive_related_bundles_rejects_with_iib_message(
    api: Stack, body: dict, message: str
) -> None:
    assert _error(api, "recursive-related-bundles", body) == message


# --- fbc-operations ---------------------------------------------------------------------------------

FBC_CASES = [
    (
        {"fbc_fragment": "f:1", "fbc_fragments": ["f:2"], "from_index": "i:1", **BIN},
        'Cannot provide both "fbc_fragment" and "fbc_fragments" parameters',
    ),
    ({"fbc_fragment": 5, "from_index": "i:1", **BIN}, '"fbc_fragment" must be a string'),
    ({"from_index": "i:1", **BIN}, 'Either "fbc_fragment" or "fbc_fragments" must be provided'),
    (
        {"fbc_fragment": None, "fbc_fragments": None, "from_index": "i:1", **BIN},
        'Either "fbc_fragment" or "fbc_fragments" must be provided',
    ),
    ({"fbc_fragments": ["f:1"], **BIN}, "Missing required parameter(s): from_index"),
    (
        {"fbc_fragments": ["f:1"], "from_index": "i:1", "organization": "o", **BIN},
        "The following parameters are invalid: organization",
    ),
    (
        {"fbc_fragments": ["f:1"], "from_index": "i:1", "bundles": ["a:1"], **BIN},
        "The following parameters are invalid: bundles",
    ),
    ({"fbc_fragments": [], "from_index": "i:1", **BIN}, '"fbc_fragments" must be set'),
    (
        {"fbc_fragments": [""], "from_index": "i:1", **BIN},
        '"fbc_fragments" should be either an empty array or an array of non-empty strings',
    ),
    (
        {"fbc_fragment": "", "from_index": "i:1", **BIN},
        '"fbc_fragments" should be either an empty array or an array of non-empty strings',
    ),
    (
        {"fbc_fragments": ["nodigest"], "from_index": "i:1", **BIN},
        "Image nodigest should have a tag or a digest specified.",
    ),
    (
        {"fbc_fragments": ["f:1"], "from_index": "i:1"},
        'The "binary_image" value must be a non-empty string',
    ),
]


@pytest.mark.parametrize(("body", "message"), FBC_CASES)
def test_fbc_operations_rejects_with_iib_message(api: Stack, body: dict, message: str) -> None:
    assert _error(api, "fbc-operations", body) == message


def test_fbc_operations_overwrite_without_token_is_403(api: Stack) -> None:
    body = {"fbc_fragments": ["f:1"], "from_index": "i:1", "overwrite_from_index": True, **BIN}
    assert _error(api, "fbc-operations", body, 403) == (
        'You must set "overwrite_from_index_token" to use "overwrite_from_index"'
    )


# --- add-deprecations -------------------------------------------------------------------------------

SCHEMA = '{"schema": "olm.deprecations", "package": "p", "entries": []}'
ADD_DEP_CASES = [
    (
        {"deprecation_schema": SCHEMA, "from_index": "i:1", **BIN},
        '"operator_package" should be a non-empty string',
    ),
    (
        {"operator_package": 5, "deprecation_schema": SCHEMA, "from_index": "i:1", **BIN},
        '"operator_package" should be a non-empty string',
    ),
    (
        {"operator_package": "p", "from_index": "i:1", **BIN},
        '"deprecation_schema" should be a non-empty string',
    ),
    (
        {"operator_package": "p", "deprecation_schema": "{bad", "from_index": "i:1", **BIN},
        '"deprecation_schema" string should be valid JSON',
    ),
    (
        {"operator_package": "p", "deprecation_schema": SCHEMA, **BIN},
        "Missing required parameter(s): from_index",
    ),
    (
        {
            "operator_package": "p",
            "deprecation_schema": SCHEMA,
            "from_index": "i:1",
            "bundles": [],
            **BIN,
        },
        "The following parameters are invalid: bundles",
    ),
    (
        {"operator_package": "p", "deprecation_schema": SCHEMA, "from_index": "i:1"},
        'The "binary_image" value must be a non-empty string',
    ),
]


@pytest.mark.parametrize(("body", "message"), ADD_DEP_CASES)
def test_add_deprecations_rejects_with_iib_message(api: Stack, body: dict, message: str) -> None:
    assert _error(api, "add-deprecations", body) == message


def test_add_deprecations_accepts_a_json_scalar_schema(api: Stack) -> None:
    resp = api.post(
        "add-deprecations",
        {"operator_package": "p", "deprecation_schema": "1", "from_index": "i:1", **BIN},
    )
    assert resp.status_code == 201, resp.text
