"""PATCH /builds/<id> (contract §5): the worker contract, IIB's order and messages."""

from __future__ import annotations

from typing import Any

import pytest

from tests.gateway.conftest import Stack

pytestmark = pytest.mark.db

ADD = {"bundles": ["q.io/ns/b:1"], "from_index": "q.io/idx:1", "binary_image": "q.io/bin:1"}


def _new(api: Stack, endpoint: str = "add", body: dict | None = None) -> int:
    resp = api.post(endpoint, body or ADD)
    assert resp.status_code == 201, resp.text
    return int(resp.json()["id"])


def _patch_error(api: Stack, request_id: int, body: Any, status: int = 400) -> str:
    resp = api.patch(request_id, body)
    assert resp.status_code == status, resp.text
    return str(resp.json()["error"])


def test_body_must_be_a_non_empty_object(api: Stack) -> None:
    rid = _new(api)
    assert _patch_error(api, rid, []) == "The input data must be a JSON object"
    assert _patch_error(api, rid, {}) == "At least one key must be specified to update the request"


def test_body_errors_come_before_the_404(api: Stack) -> None:
    assert (
        _patch_error(api, 999999, {}) == "At least one key must be specified to update the request"
    )
    assert (
        _patch_error(api, 999999, {"arches": ["x"]}, 404) == "The requested resource was not found"
    )


@pytest.mark.parametrize(
    ("endpoint", "body", "key"),
    [
        ("add", ADD, "removed_operators"),
        ("rm", {"operators": ["o"], "from_index": "i:1", "binary_image": "b:1"}, "bundles"),
        ("regenerate-bundle", {"from_bundle_image": "b:1"}, "index_image"),
        (
            "merge-index-image",
            {"source_from_index": "s:1", "binary_image": "b:1"},
            "index_image_resolved",
        ),
        ("create-empty-index", {"from_index": "i:1", "binary_image": "b:1"}, "labels"),
        ("create-empty-index", {"from_index": "i:1", "binary_image": "b:1"}, "l"),
        ("recursive-related-bundles", {"parent_bundle_image": "p:1"}, "recursive_related_bundles"),
    ],
)
def test_keys_outside_the_type_are_not_allowed(
    api: Stack, endpoint: str, body: dict, key: str
) -> None:
    rid = _new(api, endpoint, body)
    assert _patch_error(api, rid, {key: "x:1"}) == f"The following keys are not allowed: {key}"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"arches": "amd64"}, "Architectures should be specified as a non-empty array of strings"),
        ({"arches": [""]}, "Architectures should be specified as a non-empty array of strings"),
        (
            {"bundle_mapping": []},
            'The "bundle_mapping" key must be an object with the values as lists of strings',
        ),
        (
            {"bundle_mapping": {"op": [1]}},
            'The "bundle_mapping" key must be an object with the values as lists of strings',
        ),
        ({"index_image": ""}, 'The value for "index_image" must be a non-empty string'),
        ({"state": 1, "state_reason": "x"}, 'The value for "state" must be a non-empty string'),
        ({"state": "complete"}, 'The "state_reason" key is required when "state" is supplied'),
        ({"state_reason": "x"}, 'The "state" key is required when "state_reason" is supplied'),
        (
            {"state": "done", "state_reason": "x"},
            "done is not a valid build request state. Valid states are: complete, failed, in_progress",
        ),
        ({"index_image": "notag"}, "Image notag should have a tag or a digest specified."),
        (
            {"bundle_mapping": {"op": ["notag"]}},
            "Image notag should have a tag or a digest specified.",
        ),
        # first failing key in payload order wins
        (
            {"index_image": "", "arches": "x"},
            'The value for "index_image" must be a non-empty string',
        ),
    ],
)
def test_value_validation(api: Stack, body: dict, message: str) -> None:
    assert _patch_error(api, _new(api), body) == message


def test_fbc_fragments_resolved_must_be_a_list_of_strings(api: Stack) -> None:
    rid = _new(
        api,
        "fbc-operations",
        {"fbc_fragments": ["f:1"], "from_index": "i:1", "binary_image": "b:1"},
    )
    message = 'The value for "fbc_fragments_resolved" must be a list of non-empty strings'
    assert _patch_error(api, rid, {"fbc_fragments_resolved": "f@sha256:1"}) == message
    assert _patch_error(api, rid, {"fbc_fragments_resolved": [1]}) == message  # IIB: 500
    resp = api.patch(rid, {"fbc_fragments_resolved": ["f@sha256:1"]})
    assert resp.json()["fbc_fragments_resolved"] == ["f@sha256:1"]


def test_worker_results_are_recorded(api: Stack) -> None:
    rid = _new(api)
    resp = api.patch(
        rid,
        {
            "arches": ["s390x", "amd64"],
            "binary_image_resolved": "q.io/bin@sha256:1",
            "from_index_resolved": "q.io/idx@sha256:2",
            "index_image": "reg/iib-build:1",
            "index_image_resolved": "reg/iib-build@sha256:3",
            "internal_index_image_copy": "reg/iib-build:1",
            "internal_index_image_copy_resolved": "reg/iib-build@sha256:3",
            "distribution_scope": "whatever",
            "bundle_mapping": {"pkg": ["q.io/ns/b:1"]},
            "omps_operator_version": '{"op": "1.0"}',
            "bundles": "ignored:1",
        },
    )
    assert resp.status_code == 200, resp.text
    data = resp.json()
    assert data["arches"] == ["amd64", "s390x"]
    assert data["index_image_resolved"] == "reg/iib-build@sha256:3"
    assert data["distribution_scope"] == "whatever"
    assert data["bundle_mapping"] == {"pkg": ["q.io/ns/b:1"]}
    assert data["omps_operator_version"] == {"op": "1.0"}
    assert data["bundles"] == ["q.io/ns/b:1"]
    # arches are a union
    assert api.patch(rid, {"arches": ["ppc64le"]}).json()["arches"] == ["amd64", "ppc64le", "s390x"]


def test_bundle_mapping_is_global_per_image(api: Stack) -> None:
    first = _new(api, body={**ADD, "bundles": ["q.io/ns/shared:1"]})
    api.patch(first, {"bundle_mapping": {"shared-pkg": ["q.io/ns/shared:1"]}})
    second = api.post("add", {**ADD, "bundles": ["q.io/ns/shared:1", "q.io/ns/other:1"]}).json()
    assert second["bundle_mapping"] == {"shared-pkg": ["q.io/ns/shared:1"]}


def test_states_history_and_final_states(api: Stack) -> None:
    rid = _new(api)
    api.patch(rid, {"state": "in_progress", "state_reason": "Resolving the bundles"})
    done = api.patch(
        rid,
        {
            "state": "complete",
            "state_reason": "The operator bundle(s) were successfully added to the index image",
        },
    )
    assert done.status_code == 200
    history = done.json()["state_history"]
    assert [h["state"] for h in history] == ["complete", "in_progress", "in_progress"]
    assert history[0]["updated"] == done.json()["updated"]
    assert _patch_error(api, rid, {"state": "failed", "state_reason": "x"}) == (
        "A complete request cannot change states"
    )
    assert _patch_error(api, rid, {"state": "in_progress", "state_reason": "x"}) == (
        "A complete request cannot change states"
    )
    # same final state with a new reason is allowed and recorded
    again = api.patch(rid, {"state": "complete", "state_reason": "done again"})
    assert again.status_code == 200
    assert len(again.json()["state_history"]) == 4
    # non-state fields may still change after a final state
    assert api.patch(rid, {"index_image": "reg/x:1"}).status_code == 200


def test_failed_request_cannot_change_state(api: Stack) -> None:
    rid = _new(api)
    api.patch(rid, {"state": "failed", "state_reason": "boom"})
    assert _patch_error(api, rid, {"state": "complete", "state_reason": "x"}) == (
        "A failed request cannot change states"
    )


def test_identical_state_is_not_recorded_twice(api: Stack) -> None:
    rid = _new(api)
    api.patch(rid, {"state": "in_progress", "state_reason": "Resolving the bundles"})
    again = api.patch(rid, {"state": "in_progress", "state_reason": "Resolving the bundles"})
    assert len(again.json()["state_history"]) == 2


def test_regenerate_bundle_replacements_are_validated_then_ignored(api: Stack) -> None:
    rid = _new(api, "regenerate-bundle", {"from_bundle_image": "b:1"})
    bad = _patch_error(api, rid, {"bundle_replacements": {"a": 1}})
    assert (
        bad
        == 'The "bundle_replacements" key must be a dictionary object mapping from strings to strings'
    )
    resp = api.patch(rid, {"bundle_replacements": {"a": "b"}, "bundle_image": "r/b:2"})
    assert resp.json()["bundle_replacements"] == {}
    assert resp.json()["bundle_image"] == "r/b:2"
